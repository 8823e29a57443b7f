"""What the one access line per request costs, in isolation: ``logs.log_request`` per call.

    .venv/bin/python -m benchmarks.access_log

Each format (off, text, JSON) is configured as ``serve`` configures it, with a request id set,
writing to /dev/null and to a pipe drained by another process (as a terminal, journald or a
container runtime drains it). Prints a Markdown table: microseconds per call, and the share
of one core the line takes at 5,000 requests/s.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from discounts import logs
from discounts.settings import Settings

RATE = 5_000


@contextmanager
def sink(kind: str) -> Iterator[IO[str]]:
    if kind == "/dev/null":
        with open(os.devnull, "w") as devnull:
            yield devnull
        return
    drain = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert drain.stdin is not None
    try:
        yield drain.stdin
    finally:
        drain.stdin.close()
        drain.wait()


def per_call(settings: Settings, stream: IO[str], calls: int) -> float:
    logs.configure_logging(settings)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)
    token = logs.request_id.set(logs.new_request_id())
    try:
        args = ("POST", "/api/v1/discountcodeusage/", 201, 0.00123)
        best = min(timeit.repeat(lambda: logs.log_request(*args), number=calls, repeat=5))
    finally:
        logs.request_id.reset(token)
    return best / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    options = parser.parse_args()
    rows: list[tuple[str, dict[str, object], str]] = [
        ("off (DISCOUNTS_ACCESS_LOG=false)", {"access_log": False}, "/dev/null")
    ]
    for kind in ("/dev/null", "pipe"):
        rows += [
            (f"text, to {kind}", {"access_log": True, "log_format": "text"}, kind),
            (f"json, to {kind}", {"access_log": True, "log_format": "json"}, kind),
        ]
    print(f"| access line | µs per call | share of one core at {RATE:,} req/s |")
    print("|---|---:|---:|")
    for label, fields, kind in rows:
        with sink(kind) as stream:
            seconds = per_call(Settings.model_validate(fields), stream, options.calls)
        print(f"| {label} | {seconds * 1e6:.2f} | {seconds * RATE:.1%} |")


if __name__ == "__main__":
    main()
