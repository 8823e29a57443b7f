"""What the usage-store benchmarks share: a private redis-server, the design's workload, memory figures."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis

from discounts.settings import Settings
from discounts.usage.store import Usage
from tests.services import RedisServer
from tests.usage.conftest import usage

#: Real time: Redis expires keys by its own clock, so the workload must live in the present.
NOW = datetime.now(UTC).replace(microsecond=0)
#: A campaign running two more months, plus the default week of grace.
EXPIRES = NOW + timedelta(days=60 + 7)


def stop_cleanly_on_sigterm() -> None:
    """``kill PID`` runs the ``finally`` blocks too, so the private redis-server never outlives us."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@contextlib.contextmanager
def private_redis(*extra: str) -> Iterator[RedisServer]:
    """A redis-server of our own on a free port (never the shared one), stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="usage-bench-") as directory:
        server = RedisServer(Path(directory), *extra).start()
        try:
            yield server
        finally:
            server.stop()


def store_settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[arg-type]


def zipf_audiences(total: int, codes: int = 1000, top_share: float = 0.1) -> list[int]:
    """Users per code: Zipf-skewed over ``codes`` codes, the most popular holding ``top_share`` of all.

    The exponent is solved for, so that 10M usages give the design's "one code with 1M users".
    """
    low, high = 0.0, 3.0
    for _ in range(100):
        exponent = (low + high) / 2
        weights = [1 / (rank**exponent) for rank in range(1, codes + 1)]
        if weights[0] / sum(weights) < top_share:
            low = exponent
        else:
            high = exponent
    weights = [1 / (rank**exponent) for rank in range(1, codes + 1)]
    scale = total / sum(weights)
    audiences = [max(1, round(w * scale)) for w in weights]
    audiences[0] += total - sum(audiences)  # exact total
    return audiences


def code_name(rank: int) -> str:
    return f"BRAND{rank:04d}-SALE26"


def workload(total: int) -> Iterator[Usage]:
    """``total`` usages of 1,000 codes, Zipf-skewed, each (code, user) once, interleaved over codes."""
    audiences = zipf_audiences(total)
    cursors = [0] * len(audiences)
    live = list(range(len(audiences)))
    while live:
        still = []
        for rank in live:
            # Popular codes get proportionally more turns, so codes fill up side by side.
            step = max(1, audiences[rank] // 1000)
            for user in range(cursors[rank], min(cursors[rank] + step, audiences[rank])):
                yield usage(f"user-{user:08d}", code=code_name(rank + 1), used_at=NOW)
            cursors[rank] += step
            if cursors[rank] < audiences[rank]:
                still.append(rank)
        live = still


def used_memory(port: int) -> int:
    client = Redis(port=port)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False).stdout
    redis = version.split()[2] if version else "redis-server ?"
    return f"{platform.node()}: {cpu}, {os.cpu_count()} cores; {redis}; Python {platform.python_version()}"
