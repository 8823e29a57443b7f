"""A TCP proxy in front of the service that loses one answer on the way back, as a flaky network does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading

from tests.services import free_port

HEAD_END = b"\r\n\r\n"
#: The requests whose answers the clients' tests lose once: a redemption, a cart's and a cart's confirm.
REDEEM = b"POST /api/v1/discountcodeusage/ "
REDEEM_CART = b"POST /api/v1/cartredemption/ "
CONFIRM_CART = rb"POST /api/v1/cartredemption/[^/ ]+/confirm/ "


class DropOneReply:
    """Forwards everything, except: for each of ``request_lines`` (regular expressions matched at the
    start of a request's head), the first request that matches reaches the service, its answer is
    read in full here and never sent on, and the client's connection is closed. ``dropped`` holds
    those answers by pattern; ``heads`` every request head that came through.
    """

    def __init__(self, upstream_port: int, *request_lines: bytes) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.heads: list[bytes] = []
        self.dropped: dict[bytes, bytes] = {}
        self._armed = set(request_lines)
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise TimeoutError("the proxy did not start")

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        started.set()
        self._loop.run_forever()

    def close(self) -> None:
        async def shut() -> None:
            self._server.close()
            for writer in self._writers:  # the connections' ends: every handler reads EOF and returns
                writer.close()
            handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), 10)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def idempotency_keys(self, request_line: bytes) -> list[str]:
        """The key of each request that matched ``request_line``, in the order they came."""
        keys = []
        for head in self.heads:
            if re.match(request_line, head):
                found = re.search(rb"(?im)^idempotency-key: *(\S+)", head)
                keys.append(found.group(1).decode() if found else "")
        return keys

    def lost_body(self, request_line: bytes) -> dict[str, object]:
        """The JSON body of the answer lost for ``request_line``."""
        body: dict[str, object] = json.loads(self.dropped[request_line].split(HEAD_END, 1)[1])
        return body

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers |= {client_writer, upstream_writer}
        doomed: list[bytes] = []  # the pattern whose request's answer is to be lost

        async def requests() -> None:
            while data := await client_reader.read(65536):
                if data[:16].split(b" ")[0].isalpha() and b" HTTP/1.1\r\n" in data:
                    self.heads.append(data)
                    for pattern in sorted(self._armed):
                        if re.match(pattern, data):
                            self._armed.discard(pattern)
                            doomed.append(pattern)
                            break
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def answers() -> None:
            while data := await upstream_reader.read(65536):
                if doomed:
                    self.dropped[doomed[0]] = await self._whole_answer(data, upstream_reader)
                    return
                client_writer.write(data)
                await client_writer.drain()

        forward = asyncio.ensure_future(requests())
        try:
            with contextlib.suppress(ConnectionError):
                await answers()
        finally:
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await forward
            for writer in (client_writer, upstream_writer):
                self._writers.discard(writer)
                writer.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await writer.wait_closed()

    @staticmethod
    async def _whole_answer(data: bytes, reader: asyncio.StreamReader) -> bytes:
        """The head and a ``Content-Length`` body: the service answered, whatever the client will see."""
        while HEAD_END not in data:
            data += await asyncio.wait_for(reader.read(65536), 10)
        head, body = data.split(HEAD_END, 1)
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        while length and len(body) < int(length.group(1)):
            body += await asyncio.wait_for(reader.read(65536), 10)
        return head + HEAD_END + body
