"""Bulk single-use codes: generating a 1,000,000-code batch, streaming it, redeeming its codes.

    .venv/bin/python -m benchmarks.batch_codes --count 1000000 --databases sqlite postgresql --stores redis embedded

For each database: `discounts serve` as shipped (the embedded default: its own background worker,
the embedded broker; on PostgreSQL only the database differs) on a fresh data directory. The
brand asks for the batch over HTTP and the script polls `GET /discountcodebatch/{id}/` until
it is `done`, sampling the RSS of every process of the worker (the main process, its pool
processes, beat) from /proc all along. Then the CSV is streamed over HTTP (the API process's
RSS sampled too) and exported with `discounts codes export` to /dev/null.

Then, with the million codes in the database, `discounts serve --no-background` (as a deployment
at scale runs it) is loaded with `wrk` (benchmarks/requests.lua, 64 connections): first
redemptions of one plain code by new users, then first redemptions of batch codes, each
request a different code and a different user, then the plain code again — so the two are
compared in one run, the plain code before and after. Also timed: an import of 100,000 codes
in one request. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.http_hot_path import Tokens, raw_request, statuses, write_requests, wrk
from benchmarks.usage_common import machine, private_redis, stop_cleanly_on_sigterm
from benchmarks.usage_rebuild import admin
from discounts.settings import Settings
from tests.conftest import SECRET, make_token
from tests.services import POSTGRES_ADMIN_URL
from tests.system.conftest import Server, cli_env

PLAIN = "FLASHSALE"


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc: each process's parent)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found[1:]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def is_worker(pid: int) -> bool:
    try:
        return b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Sampler:
    """Peak RSS of the worker's processes (each, and together) and of the API process, every 0.2 s."""

    def __init__(self, serve_pid: int) -> None:
        self.serve_pid = serve_pid
        self.worker_each = 0
        self.worker_sum = 0
        self.api = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            workers = [rss_kib(pid) for pid in descendants(self.serve_pid) if is_worker(pid)]
            self.worker_each = max([self.worker_each, *workers])
            self.worker_sum = max(self.worker_sum, sum(workers))
            self.api = max(self.api, rss_kib(self.serve_pid))
            self._stop.wait(0.2)

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


@contextmanager
def database(kind: str) -> Iterator[str | None]:
    """None for SQLite in the data directory (the embedded default), else a scratch PostgreSQL database."""
    if kind == "sqlite":
        yield None
        return
    name = f"discounts_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("+asyncpg", "") + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def headers(settings: Settings, role: str, sub: str) -> dict[str, str]:
    brand = sub if role == "brand" else None
    return {"Authorization": f"Bearer {make_token(settings, role, sub, brand, ttl=6 * 3600)}"}


def generate(env: dict[str, str], settings: Settings, count: int, keep: int) -> tuple[list[str], list[str]]:
    """The batch made by serve's own worker; returns the result rows and its first ``keep`` codes (for the load)."""
    rows = []
    server = Server(env)
    try:
        with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as api:
            service, brand = headers(settings, "service", "bench"), headers(settings, "brand", "acme")
            api.put("/brands/acme/", json={"name": "Acme", "email": "p@acme.example"}, headers=service)
            body = {"rule": {"brand": "acme", "discount": 10}, "validity": "2099-01-01T00:00:00Z", "count": count}
            time.sleep(3)  # the worker is up: the clock starts at the request, not at Celery's boot
            with Sampler(server.proc.pid).running() as idle:
                time.sleep(2)
            rows.append(
                f"| idle, before the batch | | | worker: largest process {mib(idle.worker_each)}, all its processes"
                f" {mib(idle.worker_sum)}; API process {mib(idle.api)} |"
            )
            with Sampler(server.proc.pid).running() as sampled:
                started = time.perf_counter()
                batch = api.post("/discountcodebatch/", json=body, headers=brand).json()
                while batch["status"] not in ("done", "failed"):
                    time.sleep(0.5)
                    batch = api.get(f"/discountcodebatch/{batch['id']}/", headers=brand).json()
                seconds = time.perf_counter() - started
            assert batch["status"] == "done", batch
            rows.append(
                f"| generate {count:,} codes | {seconds:,.1f} s | {count / seconds:,.0f} codes/s | worker: largest"
                f" process {mib(sampled.worker_each)}, all its processes {mib(sampled.worker_sum)} |"
            )
            with Sampler(server.proc.pid).running() as sampled:
                before = rss_kib(server.proc.pid)
                started = time.perf_counter()
                size, lines, first, rest = 0, 0, [], ""
                with api.stream("GET", f"/discountcodebatch/{batch['id']}/codes.csv", headers=brand) as response:
                    assert response.status_code == 200, response.read()
                    for chunk in response.iter_text():
                        size += len(chunk)
                        lines += chunk.count("\n")
                        if len(first) <= keep:  # whole lines only: a chunk may end inside one
                            *whole, rest = (rest + chunk).split("\r\n")
                            first += [line.split(",")[0] for line in whole]
                seconds = time.perf_counter() - started
            assert lines == count + 1, lines
            rows.append(
                f"| stream codes.csv over HTTP ({size / 1e6:,.0f} MB) | {seconds:,.1f} s"
                f" | {count / seconds:,.0f} codes/s | API process {mib(before)} before, peak {mib(sampled.api)} |"
            )
            codes = [f"MOVED-{n:06d}" for n in range(100_000)]
            body = {"rule": {"brand": "acme", "discount": 10}, "validity": "2099-01-01T00:00:00Z", "codes": codes}
            started = time.perf_counter()
            imported = api.post("/discountcodeimport/", json=body, headers=brand)
            seconds = time.perf_counter() - started
            assert imported.status_code == 201, imported.text[:300]
            rows.append(
                f"| import 100,000 codes in one request | {seconds:,.1f} s | {100_000 / seconds:,.0f} codes/s | |"
            )
        started = time.perf_counter()
        with open(os.devnull, "wb") as sink:
            # Through a fresh Python whose only child is the command, so its peak RSS is the command's own.
            peak_of = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True);"
            peak_of += " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)"
            argv = [sys.executable, "-c", peak_of, sys.executable, "-m", "discounts", "codes", "export", batch["id"]]
            done = subprocess.run(argv, env=env, stdout=sink, stderr=subprocess.PIPE, text=True, check=True)
        seconds = time.perf_counter() - started
        peak = int(done.stderr.strip().splitlines()[-1])
        rows.append(
            f"| `discounts codes export` to /dev/null | {seconds:,.1f} s | {count / seconds:,.0f} codes/s"
            f" | the command's peak {mib(peak)} |"
        )
    finally:
        server.stop()
    return rows, [code for code in first if code != "code"][:keep]


def redeem(env: dict[str, str], settings: Settings, codes: list[str], label: str, seconds: int) -> list[str]:
    """Plain code, batch codes, plain code again: first uses by new users, in one run against one server."""
    data = Path(env["DISCOUNTS_DATA_DIR"])
    server = Server(env, "--no-background")
    tokens = Tokens(settings)
    try:
        with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as api:
            body = {"id": PLAIN, "rule": {"brand": "acme", "discount": 10}, "validity": "2099-01-01T00:00:00Z"}
            created = api.post("/discountcode/", json=body, headers=headers(settings, "brand", "acme"))
            assert created.status_code in (201, 409), created.text

        def requests(phase: str, pairs: list[tuple[str, str]]) -> Path:
            made = []
            for code, user in pairs:
                redemption = {"code": code, "user": user, "amount": "100.00"}
                made.append(raw_request("POST", "/api/v1/discountcodeusage/", tokens.user(user), redemption))
            return write_requests(data / f"{phase}.req", made)

        size = len(codes)
        run = label.replace(" ", "").replace(",", "")
        phases = [
            ("plain code, new users", [(PLAIN, f"{run}-p1-{n}") for n in range(size)]),
            ("batch codes, a different code and user each", [(code, f"{run}-b-{n}") for n, code in enumerate(codes)]),
            ("plain code again, new users", [(PLAIN, f"{run}-p2-{n}") for n in range(size)]),
        ]
        files = [(phase, requests(str(n), pairs)) for n, (phase, pairs) in enumerate(phases)]
        rows = []
        for phase, file in files:
            result = wrk(server.url, file, seconds, 64)
            latency = result["latency_ms"]
            assert isinstance(latency, dict)
            rows.append(
                f"| {label} | {phase} | {result['per_second']:,.0f} | {statuses(result)} |"
                f" {latency['p50']:.1f} / {latency['p99']:.1f} |"
            )
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--stores", nargs="*", default=["redis", "embedded"], choices=["redis", "embedded"])
    parser.add_argument("--seconds", type=int, default=10, help="per wrk phase")
    parser.add_argument("--users", type=int, default=60_000, help="requests prepared per wrk phase")
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    print(machine())
    generation, redemption = [], []
    with private_redis() as redis:
        for kind in args.databases:
            with database(kind) as url:
                data = Path(tempfile.mkdtemp(prefix="batch-bench-"))
                try:
                    env = cli_env(data / "data", url)
                    settings = Settings(data_dir=data / "data", jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
                    rows, codes = generate(env, settings, args.count, args.users * len(args.stores))
                    generation += [row.replace("| ", f"| {kind} | ", 1) for row in rows]
                    for n, store in enumerate(args.stores):
                        extra = {"DISCOUNTS_USAGE_STORE_URL": redis.url} if store == "redis" else {}
                        part = codes[n * args.users : (n + 1) * args.users]  # each server redeems codes of its own
                        redemption += redeem(env | extra, settings, part, f"{kind}, {store} store", args.seconds)
                finally:
                    shutil.rmtree(data, ignore_errors=True)
    print("| database | what | time | rate | memory |")
    print("|---|---|---:|---:|---|")
    for row in generation:
        print(row)
    print()
    print("| server | phase | redemptions/s | statuses | p50 / p99 ms |")
    print("|---|---|---:|---|---:|")
    for row in redemption:
        print(row)


if __name__ == "__main__":
    main()
