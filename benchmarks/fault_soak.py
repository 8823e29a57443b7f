"""The randomized fault test, long: a sale under a seeded schedule of faults for ten minutes, its history checked.

    .venv/bin/python -m benchmarks.fault_soak [--seconds 600] [--seed N]

The same world, schedule and checks as ``tests/system/test_random_faults.py`` (see
``tests/system/chaos.py``), with more shoppers and more time: masters killed and failed over,
API processes killed, answers lost at the proxies, PostgreSQL restarted. Prints the fault log,
the summary and one Markdown table row; exits 1 if the history has any anomaly.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

from benchmarks.usage_common import machine, stop_cleanly_on_sigterm
from tests.system.chaos import Report, run


def row(report: Report) -> str:
    statuses = [answer.status for order in report.orders for answer in order.answers]
    acknowledged = sum(1 for order in report.orders if order.codes_used())
    faults = ", ".join(f"{kind} {count}" for kind, count in sorted(report.injected.items()))
    return (
        f"| {report.seed} | {report.seconds:.0f} s | {len(report.orders):,} | {report.requests:,} "
        f"| {report.requests - len(report.orders):,} | {acknowledged:,} | {statuses.count(503):,} "
        f"| {statuses.count(0):,} | {faults} | {len(report.anomalies)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=None, help="replay a schedule (default: a new one)")
    parser.add_argument("--users", type=int, default=20_000, help="shoppers the orders are drawn from")
    parser.add_argument("--in-flight", type=int, default=32, help="orders in flight at once")
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    print(f"{machine()}; seed {seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="fault-soak-") as directory:
        report = asyncio.run(run(Path(directory), seed, args.seconds, users=args.users, in_flight=args.in_flight))
    print(report.summary())
    print("| seed | sale | orders | requests | retries | 201s | 503s | no answer | faults injected | anomalies |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    print(row(report))
    sys.exit(1 if report.anomalies else 0)


if __name__ == "__main__":
    main()
