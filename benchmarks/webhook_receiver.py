"""A fast webhook receiver for the benchmarks: a bare asyncio protocol on uvloop, one process.

A framework (or ``http.server``) would spend more of the machine's two cores than the service
under test; this reads a request, notes its arrival (wall-clock time, the ``webhook-*`` headers
and the body) and answers 204 — or, with ``--hang``, never answers. ``GET`` answers how many
POSTs have arrived. On SIGTERM it writes one JSON line per POST to ``--out`` and exits.
Signatures are checked afterwards, not on the hot path.

    python -m benchmarks.webhook_receiver --port 9000 --out arrivals.jsonl [--hang]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import signal
import time
from pathlib import Path

import orjson
import uvloop

HEADERS = (b"webhook-id", b"webhook-timestamp", b"webhook-signature")


class Arrivals:
    def __init__(self) -> None:
        self.rows: list[tuple[float, dict[str, str], bytes]] = []

    def dump(self, path: Path) -> None:
        with path.open("wb") as out:
            for at, headers, body in self.rows:
                row = {"at": at, "headers": headers, "body": base64.b64encode(body).decode()}
                out.write(orjson.dumps(row) + b"\n")


class Receiving(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: header block, then a body of its Content-Length."""

    def __init__(self, arrivals: Arrivals, hang: bool) -> None:
        self.arrivals, self.hang = arrivals, hang
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            headers: dict[bytes, bytes] = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            if self.transport is not None and head[0].startswith(b"GET "):
                count = str(len(self.arrivals.rows)).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(count), count))
                continue
            kept = {name.decode(): headers.get(name, b"").decode() for name in HEADERS}
            self.arrivals.rows.append((time.time(), kept, body))
            if not self.hang and self.transport is not None:
                self.transport.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")


async def serve(port: int, out: Path, hang: bool) -> None:
    arrivals = Arrivals()
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    server = await loop.create_server(lambda: Receiving(arrivals, hang), "127.0.0.1", port, backlog=1024)
    await stop
    server.close()
    arrivals.dump(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--hang", action="store_true", help="read each request and never answer")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.out, args.hang))


if __name__ == "__main__":
    main()
