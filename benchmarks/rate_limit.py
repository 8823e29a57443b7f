"""The per-caller rate limit with one new caller per request (a flash sale), ours against limits'.

Both count ``1000/second`` per key (a short window, so that keys must be forgotten within the
run) while every request comes from a new key, for ``--seconds`` of real time, on one core:

    .venv/bin/python -m benchmarks.rate_limit --seconds 5

Reported: checks per second, how many keys each still remembers at the end, and the peak of
the memory allocated meanwhile (tracemalloc).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from discounts.ratelimit import RateLimit

SPEC = "1000/second"


async def run(check: Callable[[str], Awaitable[object]], seconds: float) -> tuple[int, float]:
    tracemalloc.start()
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            await check(f"user:{done}")
            done += 1
        await asyncio.sleep(0)  # let limits' expiry task run, as the event loop of a server would
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return done, peak / 2**20


async def main_async(seconds: float) -> None:
    ours = RateLimit(SPEC)

    async def check_ours(key: str) -> object:
        return ours.hit(key)

    storage = MemoryStorage()
    theirs, item = MovingWindowRateLimiter(storage), parse(SPEC)

    async def check_theirs(key: str) -> object:
        return await theirs.hit(item, key)

    print(f"| limiter ({SPEC}, a new key per check, {seconds:.0f} s) | checks/s | keys kept at the end | peak MiB |")
    print("|---|---:|---:|---:|")
    done, peak = await run(check_ours, seconds)
    print(f"| discounts.ratelimit (sliding window counter) | {done / seconds:,.0f} | {ours.keys():,} | {peak:.1f} |")
    done, peak = await run(check_theirs, seconds)
    kept = len(storage.events)
    print(f"| limits 5 MovingWindowRateLimiter, aio MemoryStorage | {done / seconds:,.0f} | {kept:,} | {peak:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    asyncio.run(main_async(parser.parse_args().seconds))


if __name__ == "__main__":
    main()
