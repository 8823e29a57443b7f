"""The usage events, derived in the transaction that copies the store's stream to the ledger.

The stream is the durable record of every claim, confirmation and give-back; the copy moves each
usage forward in the ledger (``ledger.insert_usages``) and, in the same transaction, records one
event for each move it makes. A batch copied twice moves nothing the second time, so it records
nothing either: each event is recorded once, and only for what the store acknowledged.

Two events have no entry of their own in the stream and are derived from the ledger instead:

- ``usage.released`` with status ``expired``: Redis gives an ended hold back lazily, at the next
  claim that meets it, and writes nothing. A hold whose end has passed and that is still held in
  the ledger has expired — once the ledger is known to hold every entry from before its end
  (a confirmation is only accepted before the end, so it would be in the stream by then).
  :class:`Drains` keeps the moments at which the copy found the stream empty; see :meth:`Drains.cut`.
- ``code.exhausted``: after the batch's moves, a code whose claims in this batch took its uses
  (holds included) to ``max_uses``, or the discount given (holds included) to its ``budget``.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.codes.models import DiscountCode, DiscountRule
from discounts.events.models import Mark
from discounts.events.outbox import EventType, Happened
from discounts.fields import format_time
from discounts.money import to_cents
from discounts.usage.bodies import redemption_out
from discounts.usage.models import CodeUsageTotals, DiscountUsage
from discounts.usage.rollup import Key, Known
from discounts.usage.service import usage_id, usage_ref
from discounts.usage.store import RANK, Status, Usage

#: The last hold end whose expiry was announced (set to the upgrade's moment by migration 0008).
EXPIRY_MARK = "usage.expired_through"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def released(usage: Usage, status: str, at: datetime) -> Happened:
    data = {"id": usage_id(usage), "code": usage.code, "user": usage.user, "status": status, "at": format_time(at)}
    return Happened(EventType.USAGE_RELEASED, usage.brand, data, at)


def expired(code: str, user: str, use: int, brand: str, at: datetime) -> Happened:
    data = {"id": usage_ref(code, user, use), "code": code, "user": user, "status": "expired", "at": format_time(at)}
    return Happened(EventType.USAGE_RELEASED, brand, data, at)


def event_of(usage: Usage) -> Happened:
    """The event of one move of a usage to ``usage.status``."""
    if usage.status is Status.HELD:
        return Happened(EventType.USAGE_HELD, usage.brand, redemption_out(usage), usage.used_at)
    if usage.status is Status.USED:
        return Happened(EventType.USAGE_USED, usage.brand, redemption_out(usage), usage.changed_at or usage.used_at)
    return released(usage, usage.status.value, usage.changed_at or usage.used_at)


def moves(entries: Sequence[Usage], known: Mapping[Key, Known]) -> list[Happened]:
    """An event for each entry that moves its usage forward, in the stream's order.

    A hold and its confirmation in one batch make ``usage.held`` then ``usage.used``; an entry
    the ledger is past already (a batch copied again, a late duplicate) makes none.
    """
    state = {key: old.status for key, old in known.items()}
    found = []
    for usage in entries:
        key = (usage.code, usage.user, usage.use)
        before = state.get(key)
        if before is not None and RANK[usage.status] <= RANK[before]:
            continue
        state[key] = usage.status
        found.append(event_of(usage))
    return found


def new_claims(entries: Sequence[Usage], known: Mapping[Key, Known]) -> dict[str, list[Usage]]:
    """The batch's claims the ledger did not know, by code, each in its furthest state."""
    furthest: dict[Key, Usage] = {}
    for usage in entries:
        key = (usage.code, usage.user, usage.use)
        if key not in known and (key not in furthest or RANK[usage.status] > RANK[furthest[key].status]):
            furthest[key] = usage
    by_code: dict[str, list[Usage]] = collections.defaultdict(list)
    for usage in furthest.values():
        by_code[usage.code].append(usage)
    return by_code


async def exhaustions(session: AsyncSession, claims: Mapping[str, list[Usage]]) -> list[Happened]:
    """``code.exhausted`` for each code that this batch's claims took to its ``max_uses`` or its ``budget``.

    Exactly, and once per time it gets there: the store lets a claim through only while the
    code's live uses and holds stay within ``max_uses`` and their discount within the budget, so
    the count after the batch reaches ``max_uses`` only by these claims, and "before" is the count
    less the claims of the batch still live. For the budget "reaches" means equals, to the cent: a
    code with 3.00 left refuses a 5.00 discount but may still give 2.00, so it is not exhausted.
    Holds count while they last (as in the store), measured at the batch's last claim; a hold
    that ends gives its share back, and the code may run out — and be announced — again.
    """
    if not claims:
        return []
    query = (
        select(DiscountCode.id, DiscountRule.brand, DiscountRule.max_uses, DiscountRule.budget)
        .join(DiscountRule, DiscountCode.rule_id == DiscountRule.id)
        .where(DiscountCode.id.in_(sorted(claims)))
        .where((DiscountRule.max_uses.is_not(None)) | (DiscountRule.budget.is_not(None)))
    )
    found = []
    for code, brand, max_uses, budget in (await session.execute(query)).all():
        at = max(usage.used_at for usage in claims[code])
        live_claims = [usage for usage in claims[code] if usage.is_active(at)]
        if not live_claims:
            continue
        confirmed = await session.get(CodeUsageTotals, code, populate_existing=True)
        holds = (
            await session.scalars(
                select(DiscountUsage.discount_amount).where(
                    DiscountUsage.code == code, DiscountUsage.status == Status.HELD.value, DiscountUsage.hold_until > at
                )
            )
        ).all()
        uses = (confirmed.uses if confirmed else 0) + len(holds)
        given = (confirmed.discount_cents if confirmed else 0) + sum(to_cents(amount) for amount in holds)
        added = sum(to_cents(usage.discount_amount) for usage in live_claims)
        reasons = []
        if max_uses is not None and uses - len(live_claims) < max_uses <= uses:
            reasons.append("max_uses")
        if budget is not None and given - added < to_cents(budget) == given:
            reasons.append("budget")
        for reason in reasons:
            data = {"code": code, "brand": brand, "reason": reason, "at": format_time(at)}
            found.append(Happened(EventType.CODE_EXHAUSTED, brand, data, at))
    return found


def expiry_margin(store_url: str, claim_idle_seconds: float) -> timedelta:
    """How long after a drain the ledger surely holds every earlier entry (:class:`Drains`)."""
    if store_url.startswith("sqlite"):
        return timedelta(0)
    return timedelta(seconds=claim_idle_seconds + 10)


@dataclass
class Drains:
    """When this process's copies found the stream drained, so expiries can be announced safely.

    A copy whose read returned less than it asked for saw no entry left at that moment ``P``:
    every entry appended before ``P`` was in its batch, acknowledged already, or handed to
    another copier. That other copier commits it or, if it died, Redis hands the entry on once
    it has been idle ``usage_claim_idle_seconds``; so ``margin`` (that, plus slack) after ``P``
    the ledger holds every entry from before ``P``. A hold that ended before ``P`` and is still
    held then has expired: its confirmation could only have been appended before its end.
    The embedded store hands every unacknowledged entry to each read, so its margin is zero.
    """

    margin: timedelta
    seen: collections.deque[datetime] = field(default_factory=lambda: collections.deque(maxlen=4096))

    def drained(self, at: datetime) -> None:
        self.seen.append(at)

    def cut(self, now: datetime) -> datetime | None:
        """The latest drain at least ``margin`` old: every hold that ended before it is settled."""
        settled = None
        while self.seen and self.seen[0] <= now - self.margin:
            settled = self.seen.popleft()
        if settled is not None:
            self.seen.appendleft(settled)  # still the best known until a later one settles
        return settled


async def expiries(session: AsyncSession, cut: datetime) -> list[Happened]:
    """``usage.released`` (``expired``) for held rows whose end is after the last announced one and before ``cut``.

    The caller holds the ledger's lock, so two copiers never announce one range twice.
    """
    mark = await session.get(Mark, EXPIRY_MARK, populate_existing=True)
    if mark is None:  # a database made before migration 0008 sets it: every expiry is news
        mark = Mark(name=EXPIRY_MARK, at=EPOCH)
        session.add(mark)
    if mark.at >= cut:
        return []
    columns = (
        DiscountUsage.code,
        DiscountUsage.user_id,
        DiscountUsage.use,
        DiscountUsage.brand,
        DiscountUsage.hold_until,
    )
    ended = (
        await session.execute(
            select(*columns)
            .where(DiscountUsage.status == Status.HELD.value)
            .where(DiscountUsage.hold_until > mark.at, DiscountUsage.hold_until <= cut)
            .order_by(DiscountUsage.hold_until)
        )
    ).all()
    mark.at = cut
    return [expired(code, user, use, brand, hold_until or cut) for code, user, use, brand, hold_until in ended]


async def any_expired(session: AsyncSession, cut: datetime) -> bool:
    """Whether :func:`expiries` would find anything (a read, so an idle copy writes nothing)."""
    mark = await session.get(Mark, EXPIRY_MARK)
    since = EPOCH if mark is None else mark.at
    if since >= cut:
        return False
    query = select(func.count()).where(
        DiscountUsage.status == Status.HELD.value, DiscountUsage.hold_until > since, DiscountUsage.hold_until <= cut
    )
    return bool(await session.scalar(query.limit(1)))
