"""The SMTP sink's own ceiling: plain clients sending pre-rendered messages, no database, no Celery.

    .venv/bin/python -m benchmarks.email_ceiling --messages 40000 --processes 2

``email_fanout`` runs this against the very sink its fan-outs use, in the same run, so its
e-mails per second can be read as a share of what the sink takes at all. Each client is a
process of its own with one ``smtplib`` connection; before the clock starts it renders its
share of real announcements (the fan-out's templates, one unsubscribe token per user), then
it sends them with ``sendmail`` (MAIL, RCPT, DATA, the message: four round trips, as
``smtplib`` does). ``--pipelined`` sends them instead with RFC 2920 pipelining (one round
trip a message), to show what the round trips cost the sink.
"""

from __future__ import annotations

import argparse
import multiprocessing
import smtplib
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.email_common import SECRET, CountingSink, smtp_sink, stop_cleanly_on_sigterm, thread_cpu
from discounts.notify.messages import CodeFacts, MessageRenderer, Recipient
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings

SENDER = "no-reply@discounts.localhost"


@dataclass(frozen=True)
class Ceiling:
    processes: int
    messages: int
    seconds: float
    pipelined: bool
    #: CPU seconds of the sink's thread and of the clients while they sent (None: not measured).
    sink_cpu: float | None = None
    client_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def per_message(self, cpu: float | None) -> str:
        return "" if cpu is None else f"{cpu / self.messages * 1000:.2f}"


def render(first: int, count: int) -> list[tuple[str, bytes]]:
    """``count`` announcements as the fan-out renders them, for users ``first`` onwards."""
    settings = Settings(data_dir=Path("/nonexistent"), jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    renderer = MessageRenderer(settings, UnsubscribeTokens(settings), "discounts.localhost")
    code = CodeFacts("BENCH", "ab" * 32, "Acme", 10, datetime.now(UTC) + timedelta(days=30), None)
    announcement = renderer.announcements(code)
    now = datetime.now(UTC)
    emails = [announcement(Recipient(f"u{n:08d}", f"u{n:08d}@example.com"), now) for n in range(first, first + count)]
    return [(email.to, email.data) for email in emails]


def send_plain(port: int, messages: list[tuple[str, bytes]]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        for to, data in messages:
            smtp.sendmail(SENDER, [to], data)


def send_pipelined(port: int, messages: list[tuple[str, bytes]]) -> None:
    """RFC 2920 by hand: a message's end, the next MAIL, RCPT and DATA in one write; then its four replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        replies = sock.makefile("rb")

        def reply() -> int:
            while True:
                line = replies.readline()
                if line[3:4] != b"-":
                    return int(line[:3])

        assert reply() == 220
        sock.sendall(b"EHLO bench\r\n")
        assert reply() == 250
        pending = 0  # replies owed for the previous message's end of data
        for to, data in messages:
            body = data.replace(b"\r\n.", b"\r\n..")
            sock.sendall(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (SENDER.encode(), to.encode()))
            for _ in range(pending):
                assert reply() == 250
            assert (reply(), reply(), reply()) == (250, 250, 354)
            sock.sendall(body + (b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"))
            pending = 1
        for _ in range(pending):
            assert reply() == 250
        sock.sendall(b"QUIT\r\n")


def client(port: int, first: int, count: int, pipelined: bool, ready: Any, go: Any, done: Any) -> None:
    messages = render(first, count)
    ready.put(None)
    go.wait()
    started, cpu = time.monotonic(), time.process_time()
    (send_pipelined if pipelined else send_plain)(port, messages)
    done.put((started, time.monotonic(), time.process_time() - cpu))


def measure(sink: CountingSink, messages: int, processes: int = 2, *, pipelined: bool = False) -> Ceiling:
    """``messages`` pre-rendered messages from ``processes`` clients, one connection each, to ``sink``."""
    port = sink.port
    context = multiprocessing.get_context("spawn")
    ready, done, go = context.Queue(), context.Queue(), context.Event()
    share = messages // processes
    clients = [
        context.Process(target=client, args=(port, n * share, share, pipelined, ready, go, done))
        for n in range(processes)
    ]
    for proc in clients:
        proc.start()
    for _ in clients:
        ready.get(timeout=300)
    sink_thread = sink.thread
    assert sink_thread is not None
    sink_cpu = thread_cpu(sink_thread)
    go.set()
    spans = [done.get(timeout=600) for _ in clients]
    sink_cpu = thread_cpu(sink_thread) - sink_cpu
    for proc in clients:
        proc.join()
        assert proc.exitcode == 0, proc.exitcode
    seconds = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
    client_cpu = sum(cpu for _, _, cpu in spans)
    return Ceiling(processes, share * processes, seconds, pipelined, sink_cpu, client_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--pipelined", action="store_true")
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    with smtp_sink() as sink:
        ceiling = measure(sink, args.messages, args.processes, pipelined=args.pipelined)
        assert sink.received == ceiling.messages, (sink.received, ceiling.messages)
    kind = "pipelined socket" if args.pipelined else "smtplib"
    print("| clients | messages | seconds | messages/s | sink CPU ms/message | client CPU ms/message |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| {kind}, {ceiling.processes} processes | {ceiling.messages:,} | {ceiling.seconds:.1f} | {ceiling.rate:.0f} "
        f"| {ceiling.per_message(ceiling.sink_cpu)} | {ceiling.per_message(ceiling.client_cpu)} |"
    )


if __name__ == "__main__":
    main()
