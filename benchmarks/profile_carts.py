"""py-spy on `discounts serve` while `wrk` redeems carts (the phase of `http_carts.py`): a flame graph.

.venv/bin/python -m benchmarks.profile_carts [--seconds 20] [--out flame-carts.svg] [--single]

``--single`` profiles the single-code redemption of the same run's shop instead (what the cart
is measured against).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx

from benchmarks.http_carts import cart, open_shop
from benchmarks.http_hot_path import Tokens, redemption, write_requests, wrk
from benchmarks.usage_common import private_redis, stop_cleanly_on_sigterm
from discounts.settings import Settings
from tests.conftest import SECRET
from tests.system.conftest import Server, cli_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--users", type=int, default=80_000)
    parser.add_argument("--out", type=Path, default=Path("flame-carts.svg"))
    parser.add_argument("--format", default="flamegraph", choices=["flamegraph", "raw", "speedscope"])
    parser.add_argument("--single", action="store_true", help="the single-code redemption instead of the cart")
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    data = Path(tempfile.mkdtemp(prefix="profile-carts-"))
    try:
        with private_redis() as redis:
            server = Server(cli_env(data, DISCOUNTS_USAGE_STORE_URL=redis.url), "--no-background")
            try:
                settings = Settings(data_dir=data, jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
                tokens = Tokens(settings)
                with httpx.Client(base_url=server.url, timeout=60) as http:
                    open_shop(http, settings)
                make = redemption if args.single else cart
                carts = write_requests(data / "cart.req", [make(tokens, f"p-u{n:07d}") for n in range(args.users)])
                spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--subprocesses"]
                spy += ["-p", str(server.proc.pid), "-d", str(args.seconds - 2)]
                spy += ["-r", "200", "-f", args.format, "-o", str(args.out)]
                recorder = threading.Thread(target=subprocess.run, args=(spy,), kwargs={"check": False})
                recorder.start()
                print(wrk(server.url, carts, args.seconds, 64))
                recorder.join()
            finally:
                server.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
