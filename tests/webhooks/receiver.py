"""A real HTTP receiver on a free loopback port, in a thread: records each POST, answers as told."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed

    def verify(self, secret: str) -> dict[str, Any]:
        """As a receiver would: the ``standardwebhooks`` package checks the signature and the timestamp."""
        verified: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return verified


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 204
        self.location: str | None = None
        #: Seconds to wait before answering (a hanging receiver).
        self.delay = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        # a short poll: stop() waits for the loop to notice (0.5 s by default, at every test's end)
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self, kind: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if kind is None or r.event["type"] == kind]

    async def arrived(self, count: int, kind: str | None = None, seconds: float = 30.0) -> list[Received]:
        """Wait (without blocking the event loop) until ``count`` events have arrived."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.events(kind)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(self.events(kind))} of {count} {kind or 'events'} arrived in {seconds} s")
