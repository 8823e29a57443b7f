"""A flash sale under a seeded random schedule of faults, and the check of its history (Jepsen's idea, small).

Shoppers place orders — single codes and two-brand carts, each order with its own
``Idempotency-Key`` — through whichever API process is up, and like a real checkout send the
same request again after a 503 (once its ``Retry-After`` has passed), a broken connection or a
timeout, until the order has a final answer. Meanwhile :mod:`tests.system.chaos_world` injects
the faults of the schedule. Every request and answer is recorded; afterwards the history is
checked, and each violation is an *anomaly*:

- no answer is a 5xx other than 503, and every 503 is a problem with ``Retry-After``;
- every order ends with a 201 or a refusal its own request may get (a limit reached);
- per code and user, the ledger (after the copy) and the usage store hold exactly as many uses
  as orders were answered 201 — none lost, none taken without a 201 (a retry told 409 for its
  own claim shows here);
- no user passed ``max_uses_per_user``, no code its ``max_uses`` or its budget;
- every 201, sent again with its key, is replayed as it was.

The seed fixes the schedule, the orders and the faults' choices; the interleaving is the machine's.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from discounts.db import make_engine
from discounts.settings import Settings
from discounts.usage.models import DiscountUsage
from discounts.usage.store import Limits, open_usage_store
from tests.conftest import make_token
from tests.system.chaos_world import FAULTS, World, schedule
from tests.system.conftest import bearer
from tests.system.crowd import IN_PROGRESS, NO_ANSWER, Answer, post, until_final
from tests.system.test_faults import SIGNER, service_headers

#: The sale: each code's rule, and the limits the store is asked to keep.
BRANDS = ("acme", "bolt")
CART_LINES = [
    {"id": "a", "brand": "acme", "price": "40.00", "quantity": 1},
    {"id": "b", "brand": "bolt", "price": "25.00", "quantity": 2},
]
#: Uses per (code, user) in the ledger, and the discount they gave.
USES_IN_LEDGER = (
    select(DiscountUsage.code, DiscountUsage.user_id, func.count(), func.sum(DiscountUsage.discount_amount))
    .where(DiscountUsage.status == "used")
    .group_by(DiscountUsage.code, DiscountUsage.user_id)
)
FINAL_REFUSALS = {"code_already_used", "code_exhausted", "cart_rejected"}


def sale(seconds: float) -> dict[str, tuple[dict[str, object], Limits]]:
    """Each code: its rule, and the limits to check (scaled to the run so that they are reached)."""
    few, budget = max(20, int(seconds * 2)), max(200, int(seconds * 20))
    return {
        "SOLO": ({"brand": "acme", "discount": 10}, Limits()),
        "FEW": ({"brand": "acme", "discount": 15, "max_uses": few}, Limits(max_uses=few)),
        "TWICE": ({"brand": "bolt", "discount": 5, "max_uses_per_user": 2}, Limits(per_user=2)),
        "CARTA": ({"brand": "acme", "discount": 10}, Limits()),
        "CARTB": ({"brand": "bolt", "discount": 20, "budget": f"{budget}.00"}, Limits(budget_cents=budget * 100)),
    }


@dataclass
class Order:
    number: int
    user: str
    path: str
    body: dict[str, object]
    answers: list[Answer] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"order-{self.number}"

    @property
    def final(self) -> Answer | None:
        settled = [
            answer for answer in self.answers if answer.status not in (503, NO_ANSWER) and answer.code != IN_PROGRESS
        ]
        return settled[-1] if settled else None

    def codes_used(self) -> list[str]:
        """The codes this order was answered 201 for."""
        final = self.final
        if final is None or final.status != 201 or final.body is None:
            return []
        if self.path.endswith("discountcodeusage/"):
            return [str(self.body["code"])]
        return [str(applied["code"]) for applied in final.body["applied"]]  # type: ignore[union-attr]


def orders(seed: int, users: int) -> Iterator[Order]:
    """Orders without end: a single code (three kinds of limits) or a cart of two brands' codes."""
    rng = random.Random(seed)
    for number in range(10**9):
        user = f"s{rng.randrange(users):05d}"
        kind = rng.choice(["SOLO", "FEW", "TWICE", "TWICE", "cart", "cart"])
        if kind == "cart":
            body: dict[str, object] = {"user": user, "codes": ["CARTA", "CARTB"], "lines": CART_LINES}
            yield Order(number, user, "/api/v1/cartredemption/", body)
        else:
            yield Order(number, user, "/api/v1/discountcodeusage/", {"code": kind, "user": user, "amount": "80.00"})


@dataclass
class Report:
    seed: int
    seconds: float
    orders: list[Order]
    injected: Counter[str]
    anomalies: list[str] = field(default_factory=list)
    fault_log: list[str] = field(default_factory=list)
    #: Seconds spent starting the world, in the sale, checking the history, stopping the world.
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(len(order.answers) for order in self.orders)

    def rounded_phases(self) -> dict[str, float]:
        return {phase: round(seconds, 1) for phase, seconds in self.phases.items()}

    def summary(self) -> str:
        statuses = Counter(answer.status for order in self.orders for answer in order.answers)
        acknowledged = sum(1 for order in self.orders if order.codes_used())
        lines = [
            f"seed {self.seed}: {len(self.orders)} orders in {self.seconds:.0f} s, {self.requests} requests "
            f"({self.requests - len(self.orders)} retries), {acknowledged} answered 201; statuses {dict(statuses)}",
            f"faults injected: {dict(self.injected)}; phases (s): {self.rounded_phases()}",
            *self.fault_log,
            f"anomalies: {len(self.anomalies)}",
            *self.anomalies[:30],
        ]
        return "\n".join(lines)


class Shoppers:
    """Orders sent ``in_flight`` at a time until ``stop`` is set, each retried to a final answer."""

    def __init__(self, world: World, in_flight: int) -> None:
        self.world, self.in_flight = world, in_flight
        self.tokens: dict[str, str] = {}
        self.placed: list[Order] = []

    def token(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = make_token(SIGNER, "user", user)
        return self.tokens[user]

    async def run(self, queue: Iterator[Order], stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as senders:
            for _ in range(self.in_flight):
                senders.create_task(self._send(queue, stop))

    async def _send(self, queue: Iterator[Order], stop: asyncio.Event) -> None:
        clients: dict[str, httpx.AsyncClient] = {}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        try:
            while not stop.is_set():
                order = next(queue)
                self.placed.append(order)

                async def attempt(order: Order = order) -> Answer:
                    base = self.world.url()
                    if base not in clients:
                        clients[base] = httpx.AsyncClient(base_url=base, limits=limits, timeout=10)
                    return await self.send(clients[base], order)

                # A service that never recovers fails the check (no final answer), not hangs it.
                await until_final(attempt, order.answers, tries=150)
        finally:
            for client in clients.values():
                await client.aclose()

    async def send(self, http: httpx.AsyncClient, order: Order) -> Answer:
        headers = {"Authorization": f"Bearer {self.token(order.user)}", "Idempotency-Key": order.key}
        return await post(http, order.path, order.body, headers)


async def open_sale(url: str, codes: dict[str, tuple[dict[str, object], Limits]]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for brand in BRANDS:
            profile = {"name": brand, "email": f"promo@{brand}.example"}
            r = await http.put(f"/api/v1/brands/{brand}/", json=profile, headers=service_headers())
            assert r.status_code == 201, r.text
        for code, (rule, _) in codes.items():
            brand_token = make_token(SIGNER, "brand", str(rule["brand"]), str(rule["brand"]))
            body = {"id": code, "rule": rule, "validity": "2099-01-01T00:00:00Z"}
            r = await http.post("/api/v1/discountcode/", json=body, headers=bearer(brand_token))
            assert r.status_code == 201, r.text


async def run(directory: Path, seed: int, seconds: float, *, users: int = 3000, in_flight: int = 32) -> Report:
    """The sale under the schedule of ``seed`` for ``seconds``, then the check of its history."""
    world = World(directory, seed)
    codes = sale(seconds)
    phases: dict[str, float] = {}
    started = time.monotonic()
    try:
        await asyncio.to_thread(world.start)
        await open_sale(world.url(), codes)
        phases["start"] = time.monotonic() - started
        shoppers, stop = Shoppers(world, in_flight), asyncio.Event()
        load = asyncio.create_task(shoppers.run(orders(seed, users), stop))
        try:
            began = time.monotonic()
            for at, fault in schedule(seed, seconds):
                if time.monotonic() - began > seconds and set(world.injected) == set(FAULTS):
                    break  # the faults ran long (a failover takes seconds): the sale is over
                await asyncio.sleep(max(0.0, at - (time.monotonic() - began)))
                await asyncio.to_thread(world.inject, fault)
            await asyncio.sleep(max(0.0, seconds - (time.monotonic() - began)))
        finally:
            stop.set()
        await load
        phases["sale"] = time.monotonic() - began
        report = Report(seed, phases["sale"], shoppers.placed, world.injected, fault_log=world.log, phases=phases)
        report.anomalies += answers_anomalies(report.orders)
        for name, check in [
            ("ledger", ledger_anomalies(world, codes, report.orders)),
            ("store", store_anomalies(world, codes, report.orders)),
            ("replays", replay_anomalies(world, shoppers, report.orders)),
        ]:
            checking = time.monotonic()
            report.anomalies += await check
            phases[name] = time.monotonic() - checking
    finally:
        stopping = time.monotonic()
        logs = await asyncio.to_thread(world.stop)
        phases["stop"] = time.monotonic() - stopping
    for name, log in logs.items():
        if "Traceback" in log:
            report.anomalies.append(f"{name} logged a traceback: {log[log.find('Traceback') :][:1500]}")
    return report


def answers_anomalies(placed: list[Order]) -> list[str]:
    found = []
    for order in placed:
        for answer in order.answers:
            if answer.status >= 500 and answer.status != 503:
                found.append(f"order {order.number}: {answer.status} {answer.body}")
            elif answer.status == 503 and not (
                answer.retry_after and int(answer.retry_after) > 0 and answer.content_type == "application/problem+json"
            ):
                found.append(f"order {order.number}: a 503 without Retry-After or not a problem: {answer}")
        final = order.final
        if final is None:
            found.append(f"order {order.number} never had a final answer: {[a.status for a in order.answers]}")
        elif final.status != 201 and not (final.status == 409 and final.code in FINAL_REFUSALS):
            found.append(f"order {order.number}: final answer {final.status} {final.body}")
    return found


def expected_uses(placed: list[Order]) -> Counter[tuple[str, str]]:
    return Counter((code, order.user) for order in placed for code in order.codes_used())


async def ledger_anomalies(
    world: World, codes: dict[str, tuple[dict[str, object], Limits]], placed: list[Order]
) -> list[str]:
    """The ledger, once the copy caught up, against the answers and the limits."""
    expected = expected_uses(placed)
    engine = make_engine(world.postgres.url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        deadline = time.monotonic() + 90
        while True:
            async with engine.connect() as conn:
                rows = await conn.execute(USES_IN_LEDGER)
                found = {(code, user): (count, spent) for code, user, count, spent in rows}
            if sum(count for count, _ in found.values()) >= expected.total() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    anomalies = []
    for pair in sorted(set(expected) | set(found)):
        count = found.get(pair, (0, None))[0]
        if count != expected[pair]:
            told = [
                (order.number, [answer.status for answer in order.answers])
                for order in placed
                if order.user == pair[1] and pair[0] in (order.body.get("code"), *order.body.get("codes", []))
            ]
            anomalies.append(f"{pair}: {count} uses in the ledger, {expected[pair]} answered 201; orders {told}")
    for code, (_, limits) in codes.items():
        uses = [(count, spent or Decimal(0)) for (each, _), (count, spent) in found.items() if each == code]
        if limits.max_uses is not None and sum(count for count, _ in uses) > limits.max_uses:
            anomalies.append(f"{code}: {sum(count for count, _ in uses)} uses past max_uses {limits.max_uses}")
        if limits.budget_cents is not None and sum(spent for _, spent in uses) * 100 > limits.budget_cents:
            anomalies.append(f"{code}: {sum(spent for _, spent in uses)} given, past the budget")
        if any(count > limits.per_user for count, _ in uses):
            anomalies.append(f"{code}: a user past max_uses_per_user {limits.per_user}")
    return anomalies


async def store_anomalies(
    world: World, codes: dict[str, tuple[dict[str, object], Limits]], placed: list[Order]
) -> list[str]:
    """Every acknowledged use is in the usage store, and each code counts exactly its acknowledged uses."""
    expected = expected_uses(placed)
    store = open_usage_store(world.cluster.url, Settings(_env_file=None))  # type: ignore[call-arg]
    anomalies = []
    try:
        pairs = sorted(expected)
        limits = {code: each for code, (_, each) in codes.items()}
        for pair, used_at in zip(pairs, await store.used_at_many(pairs, limits, now=datetime.now(UTC)), strict=True):
            if used_at is None:
                anomalies.append(f"{pair}: answered 201, not in the usage store")
        for code in codes:
            want = sum(count for (each, _), count in expected.items() if each == code)
            for _ in range(60):  # a reservation a killed process left ends with its hold (10 s)
                if (count := await store.count(code, datetime.now(UTC))) == want:
                    break
                await asyncio.sleep(0.5)
            if count != want:
                anomalies.append(f"{code}: {count} uses in the usage store, {want} answered 201")
    finally:
        await store.close()
    return anomalies


async def replay_anomalies(world: World, shoppers: Shoppers, placed: list[Order]) -> list[str]:
    """Every 201 sent again with its ``Idempotency-Key`` comes back as it was, marked replayed.

    Sent as a checkout sends: a 503 (a failover just over, a client's map of the cluster not yet
    fresh) is tried again after its ``Retry-After``; what counts is the final answer.
    """
    acknowledged = [order for order in placed if order.codes_used()]
    anomalies: list[str] = []
    queue = iter(acknowledged)

    async def send() -> None:
        async with httpx.AsyncClient(base_url=world.url(), timeout=30) as http:
            for order in queue:
                tries: list[Answer] = []
                await until_final(lambda: shoppers.send(http, order), tries, 20)  # noqa: B023 (awaited here)
                again = tries[-1]
                final = order.final
                assert final is not None
                if (again.status, again.replayed, again.body) != (201, True, final.body):
                    same = "the same body" if again.body == final.body else f"{again.body}, first {final.body}"
                    anomalies.append(f"order {order.number}: again {again.status}, replayed {again.replayed}, {same}")

    async with asyncio.TaskGroup() as senders:
        for _ in range(16):
            senders.create_task(send())
    return anomalies
