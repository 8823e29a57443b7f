"""E-mails per second of a fan-out, against the SMTP sink's own ceiling measured in the same run.

    .venv/bin/python -m benchmarks.email_fanout --users 100000 --concurrency 1 2
    .venv/bin/python -m benchmarks.email_fanout --users 10000 --concurrency 2 --profile benchmarks/flame-email-after

One aiosmtpd sink (``email_common.CountingSink``, in this process) takes every message of
the run. It offers PIPELINING in its EHLO reply, as production relays do (aiosmtpd 1.4
takes pipelined commands but does not say so; ``--no-pipelining`` leaves its reply as it
is). First and last, its ceiling: two plain client processes, one ``smtplib`` connection
each, sending pre-rendered announcements (``email_ceiling``). In between, for each worker
concurrency: a fresh PostgreSQL database with ``--users`` users, one ``discounts worker
--beat`` process with that many pool processes on RabbitMQ, one code created through the
API; the clock runs from the 201 to the fan-out's ``done``. Each fan-out is printed with its
ratio to the mean of the two ceilings, and the CPU time per message of the worker's
processes, of the database's backends and of the sink's thread. ``--profile PREFIX``
records the worker's processes with py-spy (``PREFIX-c<N>.svg``, a flame graph;
``pip install py-spy`` first; it slows the worker). Everything it starts it stops (and the
databases are dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from benchmarks import email_ceiling
from benchmarks.email_common import (
    CountingSink,
    CpuMeter,
    bench_settings,
    scratch_database,
    seed_directory,
    smtp_sink,
    stop_cleanly_on_sigterm,
)
from discounts.api.app import create_app
from discounts.db import make_engine, make_sessionmaker
from discounts.notify.models import Delivery, Fanout
from tests.conftest import Auth
from tests.notify.worker import WorkerProcess, delete_queues


def profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy on the worker and its pool processes: a flame graph (``.svg``) or collapsed stacks (``.txt``)."""
    spy = shutil.which("py-spy") or str(Path(".venv/bin/py-spy"))
    kind = "raw" if output.suffix == ".txt" else "flamegraph"
    argv = [spy, "record", "--pid", str(pid), "--subprocesses", "--rate", "200", "-f", kind, "-o", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class Run:
    concurrency: int
    seconds: float
    received: int
    rows: int
    #: CPU seconds by role (worker processes, the database's backends, the sink's thread).
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.received / self.seconds


async def one_run(sink: CountingSink, users: int, concurrency: int, chunk_size: int, profile: Path | None) -> Run:
    """One fan-out to ``users`` users, through ``sink``."""
    with tempfile.TemporaryDirectory(prefix="email-bench-") as directory:
        async with scratch_database() as url:
            await seed_directory(url, users)
            settings = bench_settings(url, Path(directory), smtp_url=f"smtp://127.0.0.1:{sink.port}")
            settings = settings.model_copy(update={"fanout_chunk_size": chunk_size})
            worker = WorkerProcess(settings, Path(directory) / "worker.log", beat=True, concurrency=concurrency)
            engine = make_engine(url)
            app = create_app(settings)
            spy = None
            try:
                worker.start()
                await asyncio.sleep(3)  # let the worker connect before the clock starts
                assert worker.proc is not None
                if profile is not None:
                    spy = profiler(worker.proc.pid, profile)
                before = sink.received
                meter = CpuMeter(worker.proc.pid, url.rsplit("/", 1)[1], sink.thread)
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                        body = {
                            "id": "BENCH",
                            "rule": {"brand": "acme", "discount": 10},
                            "validity": "2099-01-01T00:00:00Z",
                        }
                        created = await client.post("/api/v1/discountcode/", json=body, headers=Auth(settings).brand())
                        assert created.status_code == 201, created.text
                        started = time.perf_counter()
                        sessions = make_sessionmaker(engine)
                        polls = 0
                        while True:
                            async with sessions() as session:
                                status = await session.scalar(select(Fanout.status).where(Fanout.code_id == "BENCH"))
                            polls += 1
                            if polls % 3 == 0:  # a /proc scan takes the GIL from the sink's thread for ~6 ms
                                meter.sample()
                            if status == "done":
                                break
                            await asyncio.sleep(0.2)
                        elapsed = time.perf_counter() - started
                        meter.sample()
                        async with sessions() as session:
                            rows = await session.scalar(select(func.count()).select_from(Delivery))
            finally:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=120)
                worker.stop()
                await engine.dispose()
                delete_queues(settings)
            return Run(concurrency, elapsed, sink.received - before, int(rows or 0), meter.by_role())


def ceiling(sink: CountingSink, messages: int) -> email_ceiling.Ceiling:
    before = sink.received
    measured = email_ceiling.measure(sink, messages, 2)
    assert sink.received - before == measured.messages
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--ceiling-messages", type=int, default=40_000, help="messages per ceiling measurement")
    parser.add_argument("--profile", metavar="PREFIX", help="py-spy flame graphs of the worker, PREFIX-c<N>.svg")
    parser.add_argument("--profile-stacks", action="store_true", help="collapsed stacks (PREFIX-c<N>.txt) instead")
    parser.add_argument(
        "--no-pipelining", action="store_true", help="the sink does not offer PIPELINING (aiosmtpd's own EHLO reply)"
    )
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    with smtp_sink(pipelining=not args.no_pipelining) as sink:
        first = ceiling(sink, args.ceiling_messages)
        print(f"sink ceiling (before): {first.messages:,} messages in {first.seconds:.1f} s = {first.rate:.0f}/s")
        results = []
        for concurrency in args.concurrency:
            suffix = "txt" if args.profile_stacks else "svg"
            profile = Path(f"{args.profile}-c{concurrency}.{suffix}") if args.profile else None
            results.append(asyncio.run(one_run(sink, args.users, concurrency, args.chunk_size, profile)))
        last = ceiling(sink, args.ceiling_messages)
        print(f"sink ceiling (after): {last.messages:,} messages in {last.seconds:.1f} s = {last.rate:.0f}/s")
    rate = (first.rate + last.rate) / 2
    print()
    print(f"The sink {'does not offer' if args.no_pipelining else 'offers'} PIPELINING.")
    print()
    print("| what | users | e-mails received | delivery rows | seconds | e-mails/s | share of the ceiling |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| sink ceiling: 2 smtplib processes, pre-rendered (mean of 2) | | | | | {rate:.0f} | 1.00 |")
    for run in results:
        print(
            f"| fan-out, {run.concurrency} worker process{'es' if run.concurrency > 1 else ''} | {args.users:,} "
            f"| {run.received:,} | {run.rows:,} | {run.seconds:.1f} | {run.rate:.0f} | {run.rate / rate:.2f} |"
        )
    print()
    print("CPU milliseconds per message, by process (the machine's other load not included):")
    print()
    print("| what | worker processes | PostgreSQL backends | sink thread | sender clients |")
    print("|---|---:|---:|---:|---:|")
    for name, measured in (("ceiling (before)", first), ("ceiling (after)", last)):
        sink_cpu, client_cpu = measured.per_message(measured.sink_cpu), measured.per_message(measured.client_cpu)
        print(f"| {name} | | | {sink_cpu} | {client_cpu} |")
    for run in results:
        each = {role: f"{cpu / max(run.received, 1) * 1000:.2f}" for role, cpu in run.cpu.items()}
        print(
            f"| fan-out, {run.concurrency} worker process{'es' if run.concurrency > 1 else ''} "
            f"| {each.get('worker', '')} | {each.get('postgres', '')} | {each.get('sink', '')} | |"
        )


if __name__ == "__main__":
    main()
