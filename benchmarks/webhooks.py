"""Webhooks under a flash sale: the lag from the 201 to the receiver, and what events cost the hot path.

One deployment as at scale: `discounts serve --no-background` (one API process) on a private
Redis, PostgreSQL (a database of its own, dropped afterwards), the Celery broker on that Redis,
`discounts worker --beat --queues discounts.control` (the ledger copy, event dispatch) with its
deliverer, and `discounts worker --queues discounts.mail` (the digests) under `nice -n 10`, all
on the same two cores. Receivers are
`benchmarks/webhook_receiver.py` (a bare asyncio protocol, its own process). Load from C
(`wrk` for rates, `benchmarks/pace.c` for paced runs).

Phases, in one run:
1. **the hot path**: saturated single-code redemptions (wrk) with no endpoint, then with an
   endpoint subscribed to `usage.used` and its deliveries paused (the worker runs with
   `--no-deliver`: the copy records every event and its delivery rows, nothing is sent);
2. **lag**: paced redemptions (2,000/s for 30 s) with the deliverer on; the receiver notes each
   arrival; every 201's usage must arrive exactly once, signed; lag = arrival − the usage's
   `used_at` as its 201 said;
3. **a hanging endpoint**: a second endpoint whose receiver never answers, beside the fast one,
   paced at 500/s for 20 s: the fast one's lag, and the hanging one's attempts (one timeout each).

    .venv/bin/python -m benchmarks.webhooks [--rate 2000 --seconds 30]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from benchmarks.http_hot_path import CODE, Tokens, build_pace, pace, raw_request, statuses, stolen, wrk
from benchmarks.usage_common import private_redis, stop_cleanly_on_sigterm
from discounts.db import make_engine
from discounts.settings import Settings
from tests.conftest import SECRET, _create_database, _drop_database, make_token, run_in_thread
from tests.services import POSTGRES_ADMIN_URL, free_port, wait_for_port
from tests.system.conftest import Server, cli_env

HERE = Path(__file__).parent


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    from discounts.migrate import upgrade

    name = f"discounts_bench_{uuid.uuid4().hex[:10]}"
    run_in_thread(_create_database(name))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    run_in_thread(upgrade(url))
    try:
        yield url
    finally:
        run_in_thread(_drop_database(name))


class Receiver:
    """``webhook_receiver.py`` in a process of its own; ``arrivals()`` stops it and reads what came."""

    def __init__(self, directory: Path, hang: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.out = directory / f"arrivals-{self.port}.jsonl"
        argv = [sys.executable, "-m", "benchmarks.webhook_receiver", "--port", str(self.port), "--out", str(self.out)]
        self.proc = subprocess.Popen([*argv, *(["--hang"] if hang else [])], cwd=HERE.parent)
        wait_for_port(self.port)

    def arrivals(self) -> list[dict[str, Any]]:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        return [orjson.loads(line) for line in self.out.read_bytes().splitlines()]


class Worker:
    """`discounts worker` for one kind of queue, with or without its deliverer, at a CPU priority (nice).

    As README's deployment says for the largest sales: the beat worker takes the control
    queue (the ledger copy, event dispatch) and runs the deliverer; the e-mail worker takes the
    mail queue (digests, fan-outs), here at a lower priority since it shares the two cores.
    """

    def __init__(self, env: dict[str, str], log: Path, *, deliver: bool, mail: bool, nice: int = 0) -> None:
        queue = "discounts.mail" if mail else "discounts.control"
        argv = [sys.executable, "-m", "discounts", "worker", f"--queues={queue}"]
        argv += ["--concurrency=1"] if mail else ["--beat"]
        argv += [] if deliver else ["--no-deliver"]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["nice", "-n", str(nice), *argv] if nice else argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@dataclass
class Deployment:
    server: Server
    env: dict[str, str]
    http: httpx.Client
    tokens: Tokens
    brand: dict[str, str]
    data: Path

    def subscribe(self, url: str) -> tuple[str, str]:
        made = self.http.post("/api/v1/webhooks/", json={"url": url, "events": ["usage.used"]}, headers=self.brand)
        assert made.status_code == 201, made.text
        return made.json()["id"], made.json()["secret"]

    def unsubscribe(self, endpoint: str) -> None:
        assert self.http.delete(f"/api/v1/webhooks/{endpoint}/", headers=self.brand).status_code == 204

    def redemptions(self, name: str, users: list[str]) -> Path:
        path = self.data / f"{name}.req"
        body = [raw_request("POST", "/api/v1/discountcodeusage/", self.tokens.user(u), _order(u)) for u in users]
        path.write_bytes(b"".join(body))
        return path

    def copied(self, uses: int, seconds: float = 300) -> None:
        """Wait until the ledger holds ``uses`` usages and every event is dispatched (deliveries written)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ledger, undispatched, _, _ = run_in_thread(_stages(self.env["DISCOUNTS_DATABASE_URL"]))
            if ledger >= uses and undispatched == 0:
                return
            time.sleep(1)
        raise AssertionError("the ledger copy did not catch up")


async def _stages(url: str) -> tuple[int, int, int, int]:
    """Where the uses are: in the ledger, events not yet dispatched, deliveries owed, delivered."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            ledger = (await conn.execute(text("SELECT count(*) FROM discount_usage"))).scalar_one()
            waiting = (await conn.execute(text("SELECT count(*) FROM events WHERE dispatched_at IS NULL"))).scalar_one()
            states = dict(
                (await conn.execute(text("SELECT state, count(*) FROM webhook_deliveries GROUP BY state"))).all()
            )
    finally:
        await engine.dispose()
    return int(ledger), int(waiting), int(states.get("pending", 0)), int(states.get("delivered", 0))


@contextlib.contextmanager
def watched(url: str, every: float = 2.0) -> Iterator[list[tuple[float, tuple[int, int, int, int]]]]:
    """Samples of ``_stages`` meanwhile, to see which stage a backlog waits in."""
    samples: list[tuple[float, tuple[int, int, int, int]]] = []
    done = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not done.wait(every):
            samples.append((time.monotonic() - start, run_in_thread(_stages(url))))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


def created(result: dict[str, object]) -> int:
    return int((result.get("statuses") or {}).get("201", 0))  # type: ignore[union-attr]


def _order(user: str) -> dict[str, str]:
    return {"code": CODE, "user": user, "amount": "100.00"}


def lag_of(arrivals: list[dict[str, Any]], secret: str) -> tuple[dict[str, float], list[float], int]:
    """Per usage id: seconds from its `used_at` to its first arrival; every lag; requests that failed to verify."""
    hook = Webhook(secret)
    first: dict[str, float] = {}
    lags: list[float] = []
    unverified = 0
    for row in arrivals:
        body = base64.b64decode(row["body"])
        try:
            event = hook.verify(body, row["headers"])
        except WebhookVerificationError:
            unverified += 1
            continue
        usage = event["data"]
        lag = row["at"] - datetime.fromisoformat(usage["used_at"]).timestamp()
        lags.append(lag)
        first.setdefault(usage["id"], lag)
    return first, lags, unverified


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--hang-rate", type=int, default=500)
    parser.add_argument("--hang-seconds", type=int, default=20)
    parser.add_argument("--wrk-seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=80_000, help="distinct users per saturated phase")
    parser.add_argument(
        "--digest-seconds",
        type=int,
        default=60,
        help="DISCOUNTS_BRAND_DIGEST_SECONDS (the e-mail worker renders them on the same cores)",
    )
    parser.add_argument("--mail-nice", type=int, default=10, help="the e-mail worker's nice value (0: none)")
    parser.add_argument("--lane", type=int, default=8, help="DISCOUNTS_WEBHOOK_CONCURRENCY (in flight per endpoint)")
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    data = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    try:
        with private_redis() as redis, scratch_database() as database:
            run(args, data, redis.url, redis.url.rsplit("/", 1)[0] + "/1", database)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def run(args: argparse.Namespace, data: Path, store_url: str, broker_url: str, database: str) -> None:
    pace_bin = build_pace(data)
    env = cli_env(
        data / "data",
        database,
        DISCOUNTS_USAGE_STORE_URL=store_url,
        DISCOUNTS_BROKER_URL=broker_url,
        DISCOUNTS_WEBHOOK_ALLOW_PRIVATE="true",
        DISCOUNTS_BRAND_DIGEST_SECONDS=str(args.digest_seconds),
        DISCOUNTS_WEBHOOK_CONCURRENCY=str(args.lane),
    )
    server = Server(env, "--no-background")
    settings = Settings(data_dir=data / "data", jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    brand = {"Authorization": f"Bearer {make_token(settings, 'brand', 'acme', 'acme')}"}
    service = {"Authorization": f"Bearer {make_token(settings, 'service', 'bench')}"}
    worker_log = data / "worker.log"
    worker = Worker(env, worker_log, deliver=False, mail=False)
    mailer = Worker(env, worker_log, deliver=False, mail=True, nice=args.mail_nice)
    receivers: list[Receiver] = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            http.put("/api/v1/brands/acme/", json={"name": "Acme", "email": "p@acme.example"}, headers=service)
            body = {"id": CODE, "rule": {"brand": "acme", "discount": 10}, "validity": "2099-01-01T00:00:00Z"}
            assert http.post("/api/v1/discountcode/", json=body, headers=brand).status_code == 201
            shop = Deployment(server, env, http, Tokens(settings), brand, data)

            # 1. The hot path, with no endpoint, then with one subscribed (its deliveries paused).
            none = wrk(
                server.url, shop.redemptions("none", [f"n{n:07d}" for n in range(args.users)]), args.wrk_seconds, 64
            )
            shop.copied(created(none))
            paused_receiver = Receiver(data)
            receivers.append(paused_receiver)
            paused, _ = shop.subscribe(paused_receiver.url)
            subscribed = wrk(
                server.url,
                shop.redemptions("subscribed", [f"s{n:07d}" for n in range(args.users)]),
                args.wrk_seconds,
                64,
            )
            shop.copied(created(none) + created(subscribed))
            shop.unsubscribe(paused)  # its owed deliveries go with it
            worker.stop()

            # 2. Lag: paced redemptions, the deliverer on.
            fast = Receiver(data)
            receivers.append(fast)
            fast_endpoint, secret = shop.subscribe(fast.url)
            worker = Worker(env, worker_log, deliver=True, mail=False)
            time.sleep(5)  # the worker's start, so that its first seconds are not the sale's
            users = [f"p{n:07d}" for n in range(args.rate * args.seconds)]
            requests_file = shop.redemptions("paced", users)
            with stolen() as steal, watched(database) as stages:
                paced = pace(pace_bin, server.port, args.rate, args.seconds, requests_file)
                answered = created(paced)
                lag_summary = wait_and_measure(fast, secret, answered, seconds=120)
            shop.unsubscribe(fast_endpoint)  # its receiver has stopped

            # 3. A hanging endpoint beside the fast one.
            hanging = Receiver(data, hang=True)
            receivers.append(hanging)
            shop.subscribe(hanging.url)
            second = Receiver(data)
            receivers.append(second)
            _, second_secret = shop.subscribe(second.url)
            hang_users = [f"h{n:07d}" for n in range(args.hang_rate * args.hang_seconds)]
            hang_paced = pace(
                pace_bin, server.port, args.hang_rate, args.hang_seconds, shop.redemptions("hang", hang_users)
            )
            hang_answered = created(hang_paced)
            hang_summary = wait_and_measure(second, second_secret, hang_answered, seconds=120)
            hung_requests = len(hanging.arrivals())
            attempts = attempts_by_outcome(http.get("/metrics").text)
    finally:
        worker.stop()
        mailer.stop()
        for receiver in receivers:
            with contextlib.suppress(Exception):
                receiver.arrivals()
        log = server.stop()
        (Path(tempfile.gettempdir()) / "webhooks-bench-serve.log").write_text(log[-20000:])
        with contextlib.suppress(OSError):
            shutil.copy(worker_log, Path(tempfile.gettempdir()) / "webhooks-bench-worker.log")

    ratio = float(subscribed["per_second"]) / float(none["per_second"])  # type: ignore[arg-type]
    print("| phase | redemptions/s | statuses | p50 / p99 ms |")
    print("|---|---:|---|---:|")
    for phase, result in (("no endpoint", none), ("an endpoint subscribed, deliveries paused", subscribed)):
        latency = result["latency_ms"]
        assert isinstance(latency, dict)
        print(
            f"| {phase} | {float(result['per_second']):,.0f} | {statuses(result)} |"  # type: ignore[arg-type]
            f" {latency['p50']:.1f} / {latency['p99']:.1f} |"
        )
    print(f"subscribed / none: {ratio:.1%}")
    print()
    print("| run | 201s | delivered | missing | duplicates | unverified | lag p50 s | p99 s | max s | steal |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(summary_row(f"{args.rate}/s for {args.seconds} s, one endpoint", answered, lag_summary, steal()))
    print(
        summary_row(
            f"{args.hang_rate}/s for {args.hang_seconds} s, beside a hanging endpoint",
            hang_answered,
            hang_summary,
            None,
        )
    )
    print()
    print("seconds: ledger, events not dispatched, deliveries owed, delivered (the lag run)")
    for at, (ledger, waiting, owed, delivered) in stages:
        print(f"  {at:5.1f}: {ledger:,} {waiting:,} {owed:,} {delivered:,}")
    print(f"hanging endpoint: {hung_requests} requests received, never answered; attempts by outcome: {dict(attempts)}")


@dataclass
class LagSummary:
    delivered: int
    missing: int
    duplicates: int
    unverified: int
    lags: list[float]


def wait_and_measure(receiver: Receiver, secret: str, expected: int, seconds: float) -> LagSummary:
    """Give the deliverer until every expected use could have arrived (or ``seconds``), then read the receiver."""
    deadline = time.monotonic() + seconds
    out_of_time = True
    while time.monotonic() < deadline:
        time.sleep(2)
        if _arrived_so_far(receiver) >= expected:
            out_of_time = False
            break
    time.sleep(3 if not out_of_time else 0)  # a duplicate would come right behind
    arrivals = receiver.arrivals()
    first, lags, unverified = lag_of(arrivals, secret)
    return LagSummary(
        len(first), max(0, expected - len(first)), len(lags) - len(first), unverified, list(first.values())
    )


def _arrived_so_far(receiver: Receiver) -> int:
    with httpx.Client(timeout=10) as http:
        return int(http.get(receiver.url).text)


def attempts_by_outcome(metrics: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in metrics.splitlines():
        if line.startswith("discounts_webhook_attempts_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def summary_row(label: str, answered: int, summary: LagSummary, steal: float | None) -> str:
    lags = summary.lags
    cells = [
        label,
        f"{answered:,}",
        f"{summary.delivered:,}",
        f"{summary.missing:,}",
        f"{summary.duplicates:,}",
        f"{summary.unverified:,}",
        f"{statistics.median(lags):.3f}" if lags else "—",
        f"{percentile(lags, 0.99):.3f}",
        f"{max(lags):.3f}" if lags else "—",
        "—" if steal is None else f"{steal:.1%}",
    ]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
