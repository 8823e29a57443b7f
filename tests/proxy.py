"""A TCP proxy that can lose a server's answers: what a network does to a reply in flight.

While ``drop`` is on, commands still reach the upstream server and whatever it answers is read
and thrown away; when the window ends, each link that lost an answer is closed: the client sent
its command, the server ran it, and the client never hears back — the fault that makes a retry
meet its own claim. It runs on a thread of its own
with its own event loop, so that a test can use it under any loop, for any child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from tests.services import free_port


class ReplyDroppingProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", port: int | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self.dropped = 0
        self._drop_until = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ReplyDroppingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def drop(self, seconds: float) -> None:
        """For the next ``seconds``, every answer is lost (and its link closed after it)."""
        self._drop_until = time.monotonic() + seconds

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            links = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in links:
                task.cancel()
            await asyncio.gather(*links, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)

    async def _connection(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        link = asyncio.current_task()
        if link is not None:  # asyncio keeps a task only weakly: a link waiting on a quiet socket is kept here
            self._links.add(link)
            link.add_done_callback(self._links.discard)
        try:
            server_in, server_out = await asyncio.open_connection(*self.upstream)
        except (OSError, asyncio.CancelledError):
            client_out.close()
            return
        forward = asyncio.create_task(self._pump(client_in, server_out))
        breaking: asyncio.Task[None] | None = None
        try:
            while data := await server_in.read(65536):
                now = time.monotonic()
                if now < self._drop_until:
                    self.dropped += 1
                    if breaking is None:  # the link breaks once the window is over
                        breaking = asyncio.create_task(
                            self._close_after(self._drop_until - now, client_out, server_out)
                        )
                    continue
                if breaking is not None:
                    break
                client_out.write(data)
                await client_out.drain()
        except (ConnectionError, asyncio.CancelledError):  # cancelled: the proxy stops; the link just ends
            pass
        finally:
            forward.cancel()
            for writer in (client_out, server_out):
                writer.close()  # not waited for: a link whose peer vanished may never report closed

    @staticmethod
    async def _close_after(seconds: float, *writers: asyncio.StreamWriter) -> None:
        await asyncio.sleep(seconds)
        for writer in writers:
            writer.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
