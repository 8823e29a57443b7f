"""The marketplace cart through the whole HTTP API, against a single code and a bare endpoint, in one run.

Issue 18's figures, with the harness of `http_hot_path.py` (wrk for rates, `pace.c` for tails):
- a cart of 3 codes of 3 brands on 6 lines, redeemed on Redis by one API process, against the
  single-code redemption in the same run (target: at least half of its rate), and that against
  the bare endpoint (target: at least half, as before). The three phases run in turn, three
  rounds by default, and the ratios are each round's, with their median: on a shared machine
  a neighbour's busy minute would otherwise land in one phase and not the other;
- a cart quote paced at 500/s (target: p99 under 10 ms);
- the largest cart the contract allows, 1,000 lines and 10 codes, paced slowly (target: under
  50 ms);
- bad input: 1,000 lines with one malformed, 11 codes, a code twice, a 10 MB body — each answer
  and what it names, then a check that nothing was recorded.

    .venv/bin/python -m benchmarks.http_carts
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.http_hot_path import (
    Tokens,
    bare_server,
    build_pace,
    pace,
    paced_row,
    raw_request,
    redemption,
    row,
    stolen,
    write_requests,
    wrk,
)
from benchmarks.usage_common import private_redis, stop_cleanly_on_sigterm
from discounts.settings import Settings
from tests.conftest import SECRET, make_token
from tests.system.conftest import Server, cli_env

CODES = {
    "FLASHSALE": ("acme", {"discount": 10}),
    "BOLT5": ("bolt", {"amount_off": "5.00", "currency": "EUR"}),
    "COZY20": ("cozy", {"discount": 20}),
}
LINES = [
    {"id": "shoe", "brand": "acme", "product": "sku-1", "price": "60.00", "quantity": 1},
    {"id": "sock", "brand": "acme", "product": "sku-2", "categories": ["sale"], "price": "10.00", "quantity": 2},
    {"id": "bolt", "brand": "bolt", "product": "sku-3", "price": "30.00", "quantity": 1},
    {"id": "pen", "brand": "bolt", "product": "sku-4", "price": "3.99", "quantity": 3},
    {"id": "lamp", "brand": "cozy", "product": "sku-5", "price": "45.50", "quantity": 1},
    {"id": "mug", "brand": "cozy", "product": "sku-6", "price": "12.25", "quantity": 2},
]
BIG_BRANDS = [f"brand{n}" for n in range(10)]


def cart(tokens: Tokens, user: str, path: str = "/api/v1/cartredemption/") -> bytes:
    body = {"user": user, "currency": "EUR", "codes": list(CODES), "lines": LINES}
    return raw_request("POST", path, tokens.user(user), body)


def big_cart(tokens: Tokens, user: str) -> bytes:
    """1,000 lines of ten brands, one code of each brand."""
    lines = [
        {"id": f"l{n}", "brand": BIG_BRANDS[n % 10], "product": f"sku-{n}", "price": "9.99", "quantity": 1 + n % 3}
        for n in range(1000)
    ]
    body = {"user": user, "currency": "EUR", "codes": [f"BIG{n}" for n in range(10)], "lines": lines}
    return raw_request("POST", "/api/v1/cartredemption/", tokens.user(user), body)


def open_shop(http: httpx.Client, settings: Settings) -> None:
    service = {"Authorization": f"Bearer {make_token(settings, 'service', 'bench')}"}

    def code(code: str, brand: str, rule: dict[str, Any]) -> None:
        http.put(f"/api/v1/brands/{brand}/", json={"name": brand, "email": f"p@{brand}.example"}, headers=service)
        headers = {"Authorization": f"Bearer {make_token(settings, 'brand', brand, brand)}"}
        body = {"id": code, "rule": {"brand": brand, **rule}, "validity": "2099-01-01T00:00:00Z"}
        assert http.post("/api/v1/discountcode/", json=body, headers=headers).status_code == 201

    for name, (brand, rule) in CODES.items():
        code(name, brand, rule)
    for n, brand in enumerate(BIG_BRANDS):
        code(
            f"BIG{n}", brand, {"discount": 5 + n, "categories": ["sale"], "products": [f"sku-{k}" for k in range(500)]}
        )


def bad_input(http: httpx.Client, tokens: Tokens) -> list[str]:
    """Each bad request's answer: status, code and the fields it names; then that nothing was recorded."""
    user = "bad-input-shopper"
    headers = {"Authorization": f"Bearer {tokens.user(user)}"}
    base = {"user": user, "currency": "EUR", "codes": list(CODES), "lines": LINES}
    lines = [{"brand": "acme", "price": "1.00", "quantity": 1} for _ in range(1000)]
    lines[700] = {"brand": "acme", "price": "1.001", "quantity": 1}
    cases: list[tuple[str, Any]] = [
        ("1,000 lines, line 700 malformed", {**base, "lines": lines}),
        ("11 codes", {**base, "codes": [f"CODE{n}" for n in range(11)]}),
        ("a code twice (other case)", {**base, "codes": ["FLASHSALE", "flashsale"]}),
        ("a 10 MB body", b'{"user": "' + b"x" * 10_000_000 + b'"}'),
    ]
    rows = []
    for name, body in cases:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {**headers, "Content-Type": "application/json"}
        response = http.post("/api/v1/cartredemption/", content=content, headers=sent)
        problem = response.json()
        fields = ", ".join(".".join(e["loc"][1:]) for e in problem.get("errors") or []) or "-"
        rows.append(f"| {name} | {response.status_code} `{problem['code']}` | {fields} |")
    fetched = http.get("/api/v1/discountcode/FLASHSALE/", headers=headers).json()
    rows.append(f"| afterwards: FLASHSALE used by that shopper? | {fetched['used']} | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="single, then cart, this many times")
    parser.add_argument("--users", type=int, default=60_000)
    parser.add_argument("--quote-rate", type=int, default=500)
    parser.add_argument("--paced-seconds", type=int, default=20)
    parser.add_argument("--big-rate", type=int, default=10)
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as scratch:
        pace_bin = build_pace(Path(scratch))
        with bare_server() as bare_port, private_redis() as redis:
            bare = Bare(bare_port, write_requests(Path(scratch) / "bare.req", [raw_request("POST", "/bare/", "x", {})]))
            rates, paced, bad = run_server(redis.url, args, pace_bin, bare)
    print("| server | phase | requests/s | of the round's bare | of its single code | statuses | p50 / p99 ms |")
    print("|---|---|---:|---:|---:|---|---:|")
    of_bare, of_single = [], []
    for (bare_phase, bare_run), (single_phase, single), (cart_phase, carts) in zip(
        rates[::3], rates[1::3], rates[2::3], strict=True
    ):
        base, single_rate = float(bare_run["per_second"]), float(single["per_second"])  # type: ignore[arg-type]
        of_bare.append(single_rate / base)
        of_single.append(float(carts["per_second"]) / single_rate)  # type: ignore[arg-type]
        for server, phase, result in (
            ("bare FastAPI", bare_phase, bare_run),
            ("Redis, 1 process", single_phase, single),
            ("Redis, 1 process", cart_phase, carts),
        ):
            rate = float(result["per_second"])  # type: ignore[arg-type]
            cells = row(server, phase, result).replace("{ratio}", f"{rate / base:.0%}").split(" | ")
            cells.insert(4, f"{rate / single_rate:.0%}")
            print(" | ".join(cells))
    rounds = len(of_single)
    print(f"single code ÷ bare, median of {rounds} rounds: {statistics.median(of_bare):.0%}")
    print(f"cart ÷ single code, median of {rounds} rounds: {statistics.median(of_single):.0%}")
    print()
    print("| server | phase | statuses | p50 ms | p99 ms | p99.9 ms | max ms | steal |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for line in paced:
        print(line)
    print()
    print("| bad input | answer | fields named |")
    print("|---|---|---|")
    for line in bad:
        print(line)


@dataclass(frozen=True)
class Bare:
    """The bare FastAPI endpoint, measured in each round beside the two redemptions."""

    port: int
    requests: Path

    def run(self, seconds: int) -> dict[str, object]:
        return wrk(f"http://127.0.0.1:{self.port}", self.requests, seconds, 64)


def run_server(
    store_url: str, args: argparse.Namespace, pace_bin: Path, bare: Bare
) -> tuple[list[tuple[str, dict[str, object]]], list[str], list[str]]:
    data = Path(tempfile.mkdtemp(prefix="carts-"))
    server = Server(cli_env(data, DISCOUNTS_USAGE_STORE_URL=store_url), "--no-background")
    settings = Settings(data_dir=data, jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    tokens = Tokens(settings)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            open_shop(http, settings)
            rates = []
            for round_ in range(1, args.rounds + 1):
                # Interleaved: a noisy neighbour's minute weighs on the phases of a round alike.
                rates += [(f"bare endpoint (round {round_})", bare.run(args.seconds))]
                for name, label, request in (
                    ("single", "single code, first use", redemption),
                    ("cart", "cart of 3 codes, 6 lines", cart),
                ):
                    users = [f"{name}{round_}-u{n:07d}" for n in range(args.users)]
                    file = write_requests(data / f"{name}.req", [request(tokens, user) for user in users])
                    rates += [(f"{label} (round {round_})", wrk(server.url, file, args.seconds, 64))]
            quotes = [
                cart(tokens, f"quote-u{n:06d}", "/api/v1/cartquote/")
                for n in range(args.quote_rate * args.paced_seconds)
            ]
            paced = []
            with stolen() as steal:
                result = pace(
                    pace_bin,
                    server.port,
                    args.quote_rate,
                    args.paced_seconds,
                    write_requests(data / "quote.req", quotes),
                )
            paced.append(paced_row("Redis, 1 process", "cart quote", result, steal()))
            bigs = [big_cart(tokens, f"big-u{n:05d}") for n in range(args.big_rate * args.paced_seconds)]
            with stolen() as steal:
                result = pace(
                    pace_bin, server.port, args.big_rate, args.paced_seconds, write_requests(data / "big.req", bigs)
                )
            paced.append(paced_row("Redis, 1 process", "cart of 1,000 lines and 10 codes", result, steal()))
            bad = bad_input(http, tokens)
    finally:
        log = server.stop()
        (Path(tempfile.gettempdir()) / "http-carts.log").write_text(log[-20000:])
        shutil.rmtree(data, ignore_errors=True)
    return rates, paced, bad


if __name__ == "__main__":
    main()
