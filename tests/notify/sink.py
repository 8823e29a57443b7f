"""A real SMTP server (aiosmtpd) on a free port that keeps what it receives and can refuse on cue."""

from __future__ import annotations

import threading
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.services import free_port


class SMTPSink:
    def __init__(self, **controller: Any) -> None:
        self._lock = threading.Lock()
        self.raw: list[tuple[str, bytes]] = []
        self.rcpt_attempts: Counter[str] = Counter()
        #: address -> how many more RCPTs to answer with 451 (temporary).
        self.temporary: dict[str, int] = {}
        #: addresses answered with 550 (permanent).
        self.permanent: set[str] = set()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **controller)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SMTPSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self._lock:
            self.rcpt_attempts[address] += 1
            if address in self.permanent:
                return "550 5.1.1 No such user here"
            if self.temporary.get(address, 0) > 0:
                self.temporary[address] -= 1
                return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                self.raw.append((rcpt, envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self._lock:
            return len(self.raw)

    def messages(self) -> list[tuple[str, EmailMessage]]:
        with self._lock:
            raw = list(self.raw)
        return [(rcpt, message_from_bytes(data, policy=policy.default)) for rcpt, data in raw]  # type: ignore[misc]

    def per_recipient(self) -> Counter[str]:
        with self._lock:
            return Counter(rcpt for rcpt, _ in self.raw)


class PipeliningSink(SMTPSink):
    """The same server, offering PIPELINING (RFC 2920) in its EHLO reply, as production relays do.

    aiosmtpd reads commands from a buffered stream and answers them in order, so it takes
    pipelined commands; it only does not say so.
    """

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]
