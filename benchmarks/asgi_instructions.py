"""Instructions per request through the whole ASGI app, counted by valgrind: the cart against a single code.

This machine's rates move by a third from one minute to the next (a shared host); callgrind
counts instructions, the same for the same code whatever the neighbours do. The app runs in
one process on a private Redis, driven without a server (no uvicorn, no sockets to the
client: what a request costs our code and its libraries). Each mode runs twice under
callgrind with the same setup and a different number of measured requests; the difference
divided by the difference in requests is the cost of one, setup excluded.

    .venv/bin/python -m benchmarks.asgi_instructions [--modes single cart] [--requests 1000]

(``--inside MODE COUNT`` is the run valgrind watches.) Needs Debian's ``valgrind``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.http_carts import CODES, LINES
from benchmarks.usage_common import private_redis
from discounts.api.app import create_app
from discounts.migrate import upgrade
from discounts.settings import Settings
from tests.conftest import SECRET, make_token

WARM = 200
#: Requests made in every run, measured or not, so that both runs' setups are the same.
MADE = 1300


async def call(app: Any, method: str, path: str, token: str, raw: bytes) -> int:
    """One request through the ASGI app as uvicorn would hand it over; its status."""
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    headers.append((b"content-length", str(len(raw)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "scheme": "http",
        "root_path": "",
    }
    answered: dict[str, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answered["status"] = message["status"]

    await app(scope, receive, send)
    return answered["status"]


async def inside(mode: str, measured: int) -> None:
    """Open the shop, make ``MADE`` requests' bodies and tokens, warm up, then send ``measured`` of them."""
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as data, private_redis() as redis:
        settings = Settings(data_dir=Path(data), jwt_secret=SECRET, usage_store_url=redis.url, _env_file=None)  # type: ignore[call-arg]
        settings.ensure_data_dir()
        await upgrade(settings.resolved_database_url)
        app = create_app(settings)
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            service = make_token(settings, "service", "bench")
            for code, (brand, rule) in CODES.items():
                body = json.dumps({"name": brand, "email": f"p@{brand}.example"}).encode()
                await call(app, "PUT", f"/api/v1/brands/{brand}/", service, body)
                body = json.dumps({"id": code, "rule": {"brand": brand, **rule}, "validity": "2099-01-01T00:00:00Z"})
                assert (
                    await call(
                        app, "POST", "/api/v1/discountcode/", make_token(settings, "brand", brand, brand), body.encode()
                    )
                    == 201
                )
            requests = []
            for n in range(MADE):
                user = f"{mode}-u{n:07d}"
                if mode == "single":
                    path, body_ = "/api/v1/discountcodeusage/", {"code": "FLASHSALE", "user": user, "amount": "100.00"}
                else:
                    path, body_ = (
                        "/api/v1/cartredemption/",
                        {"user": user, "currency": "EUR", "codes": list(CODES), "lines": LINES},
                    )
                requests.append((path, make_token(settings, "user", user), json.dumps(body_).encode()))
            for path, token, raw in requests[:WARM]:
                assert await call(app, "POST", path, token, raw) == 201
            chosen = requests[WARM : WARM + measured]

            async def shopper(k: int) -> None:  # 32 at once, as a flash sale keeps a process busy
                for path, token, raw in chosen[k::32]:
                    assert await call(app, "POST", path, token, raw) == 201

            await asyncio.gather(*(shopper(k) for k in range(32)))


def collected(mode: str, measured: int) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out"]
        command += [sys.executable, "-m", "benchmarks.asgi_instructions", "--inside", mode, str(measured)]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        run = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : (\d+)", run.stderr)
    assert found, run.stderr[-2000:]
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--modes", nargs="+", default=["single", "cart"], choices=["single", "cart"])
    parser.add_argument("--requests", type=int, default=1000, help="the difference in measured requests")
    parser.add_argument("--inside", nargs=2, metavar=("MODE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        asyncio.run(inside(args.inside[0], int(args.inside[1])))
        return
    assert args.requests + 100 <= MADE - WARM
    costs = {}
    for mode in args.modes:
        few, many = collected(mode, 100), collected(mode, 100 + args.requests)
        costs[mode] = (many - few) / args.requests
        print(f"{mode}: {costs[mode]:,.0f} instructions a request")
    if len(costs) == 2:
        print(f"cart ÷ single code, by instructions: {costs['single'] / costs['cart']:.1%}")


if __name__ == "__main__":
    main()
