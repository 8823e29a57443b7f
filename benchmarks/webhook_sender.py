"""How many webhook POSTs one process sends a second: the deliverer's sender (aiohttp) against httpx.

The same small signed body, 8 in flight (a lane's default), to `webhook_receiver.py` in its own
process, on uvloop. This is why the sender is aiohttp (`discounts/webhooks/sender.py`).

    .venv/bin/python -m benchmarks.webhook_sender [--posts 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import uvloop

from discounts.webhooks import sender
from tests.services import free_port, wait_for_port

BODY = b'{"type":"usage.used","timestamp":"2026-12-07T23:00:00Z","data":{"id":"u_1","amount":"100.00"}}' * 4
HEADERS = {"webhook-id": "msg_1", "webhook-timestamp": "1796684400", "webhook-signature": "v1,x"}


async def rate(posts: int, post: Callable[[], Awaitable[object]]) -> tuple[float, Counter[object]]:
    left = posts
    outcomes: Counter[object] = Counter()

    async def lane() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            outcomes[await post()] += 1

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(8)))
    return posts / (time.perf_counter() - start), outcomes


async def compare(url: str, posts: int) -> None:
    async with sender.new_client() as client:
        ours = await rate(posts, lambda: sender.post(client, url, BODY, HEADERS, allow_private=True))
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=10) as http:

        async def with_httpx() -> int:
            return (await http.post(url, content=BODY, headers=HEADERS)).status_code

        theirs = await rate(posts, with_httpx)
    print("| client | POSTs/s | answers |")
    print("|---|---:|---|")
    for name, (per_second, outcomes) in (("aiohttp (the sender)", ours), ("httpx", theirs)):
        print(f"| {name} | {per_second:,.0f} | {dict(outcomes)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--posts", type=int, default=20_000)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "arrivals.jsonl"
        argv = [sys.executable, "-m", "benchmarks.webhook_receiver", "--port", str(port), "--out", str(out)]
        receiver = subprocess.Popen(argv, cwd=Path(__file__).parent.parent)
        try:
            wait_for_port(port)
            uvloop.run(compare(f"http://127.0.0.1:{port}/hooks", args.posts))
        finally:
            receiver.terminate()
            receiver.wait(timeout=30)


if __name__ == "__main__":
    main()
