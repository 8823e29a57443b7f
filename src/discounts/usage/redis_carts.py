"""Carts on Redis and Redis Cluster: all of a cart's codes claimed, or none, across nodes.

One Lua script runs on one slot, and a cart's codes live in different slots (on a cluster, on
different masters), so a cart is claimed in three steps (docs/usage-store.md, "Carts"):

1. **Reserve** every code: the claim's own script with every limit, as a hold until the
   cart's ``hold_until`` that the stream does not hear of yet (``quiet``), tagged with the
   cart's id (its nonce). A refusal gives back the reservations already taken, quietly; a
   process that dies here leaves holds that give themselves back by ``hold_until``.
2. **Commit**: one script on the cart's own slot writes its record (the decision, with what
   each code claimed), puts it among the carts still being settled, and appends the cart to
   the stream — the point after which the cart happened.
3. **Settle** each reservation: it becomes a hold or a use, appended to the stream like any
   claim. Then the cart leaves the open set.

Every step is idempotent, and everything after the commit is driven from the record, by the
request or — if its process died — by whoever comes next: a retry (same id, so the same
reservations), the cart's confirm or release, or the periodic ``finish_carts``. A confirm or
a release first writes its decision to the record, then moves the usages the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import Redis

from discounts.errors import StoreUnreachable, client_failures
from discounts.usage.redis_layout import (
    CART_FIELD,
    EPOCH,
    STREAM_FIELD,
    cart_payload,
    recorded,
    stream_payload,
    unix_micros,
    unix_seconds,
    usage_of,
)
from discounts.usage.store import (
    Cart,
    CartChanged,
    CartEntry,
    CartRecorded,
    CartState,
    Change,
    Outcome,
    Status,
    StoredCart,
)

if TYPE_CHECKING:
    from redis.asyncio.cluster import RedisCluster
    from redis.commands.core import AsyncScript

    from discounts.usage.redis_layout import Layout
    from discounts.usage.redis_pipelining import AutoPipeline
    from discounts.usage.store import Limits, Usage

log = logging.getLogger(__name__)

#: An open cart this old is presumed abandoned by its process, and finished by ``finish_carts``.
FINISH_AFTER = timedelta(seconds=5)
#: Open carts finished per shard and call.
FINISH_BATCH = 100


@dataclass(frozen=True, slots=True)
class _Record:
    """A cart's record as stored: the decision (``state`` at ``decided``) and what each code claimed."""

    id: str
    user: str
    used_at: datetime
    hold_until: datetime
    summary: bytes
    #: Per code: the code, the usage's payload, its use number, whether its limits are shared, how it was claimed.
    claims: tuple[tuple[str, str, int, bool, str], ...]
    state: CartState
    decided: int

    def usages(self, status: Status | None = None) -> tuple[Usage, ...]:
        hold = unix_seconds(self.hold_until)
        return tuple(
            usage_of(payload, use=use, status=status or Status(mode), hold_until=hold if mode == "held" else None)
            for _, payload, use, _, mode in self.claims
        )

    def stored(self) -> StoredCart:
        status = {CartState.USED: Status.USED, CartState.RELEASED: Status.RELEASED}.get(self.state)
        state = self.state
        return StoredCart(self.id, self.user, state, self.used_at, self.hold_until, self.summary, self.usages(status))


class RedisCarts:
    """The cart half of ``RedisUsageStore`` (a mixin: the same client, layout, scripts and pipeline)."""

    if TYPE_CHECKING:  # what the store provides
        layout: Layout
        cart_keep_seconds: int
        _redis: Redis | RedisCluster
        _pipeline: AutoPipeline
        _scripts: dict[str, AsyncScript]
        _in_flight: asyncio.Semaphore
        _closing: set[asyncio.Future[Any]]

        async def _prepare(self) -> None: ...

        _capacity: int

        def _claim_call(
            self,
            usage: Usage,
            expires_at: datetime,
            limits: Limits,
            *,
            nonce: str = "",
            quiet: bool = False,
            hold: datetime | None = None,
        ) -> tuple[list[str], list[Any]]: ...

        def _change_call(
            self, code: str, user: str, use: int, shared: bool, now: datetime
        ) -> tuple[list[str], list[Any]]: ...

    async def record_cart(self, cart: Cart, *, now: datetime) -> CartRecorded:
        await self._prepare()
        mode = "held" if cart.held else "used"
        payloads = [stream_payload(usage).decode() for usage in cart.usages]
        # Seconds, not a moment: Redis counts them on its own clock.
        keep = max(1, int((cart.hold_until - now).total_seconds()) + self.cart_keep_seconds)
        if isinstance(self._redis, Redis):
            return await self._record_at_once(cart, payloads, mode, keep, now)
        for _ in range(2):  # a second round only if a retry found its first attempt unsettleable (forgotten now)
            recorded_cart = await self._record_in_steps(cart, payloads, mode, keep, now)
            if recorded_cart is not None:
                return recorded_cart
        raise StoreUnreachable(f"cart {cart.id} could not be settled in time; retry with the same Idempotency-Key")

    async def _record_in_steps(
        self, cart: Cart, payloads: list[str], mode: str, keep: int, now: datetime
    ) -> CartRecorded | None:
        """Reserve, commit, settle; None when a cart committed before under this id had to be given back."""
        shared = tuple(limits.shared for limits in cart.limits)
        reserving = []
        for usage, payload, expires_at, limits in zip(cart.usages, payloads, cart.expires_at, cart.limits, strict=True):
            keys, args = self._claim_call(usage, expires_at, limits, nonce=cart.id, quiet=True, hold=cart.hold_until)
            args[6] = payload
            reserving.append(self._pipeline.submit(self._scripts["record"], keys, args))
        answers = [recorded(reply) for reply in await asyncio.gather(*reserving)]
        outcomes = tuple(answer.outcome for answer in answers)
        uses = tuple(answer.use for answer in answers)
        if not all(answers):
            await self._unreserve(cart, uses, shared)
            return CartRecorded(outcomes)
        claims = tuple(
            (usage.code, payload, use, is_shared, mode)
            for usage, payload, use, is_shared in zip(cart.usages, payloads, uses, shared, strict=True)
        )
        record = _Record(
            cart.id, cart.user, cart.usages[0].used_at, cart.hold_until, cart.summary, claims, CartState(mode), 0
        )
        earlier = await self._begin(record, keep, now)
        if earlier is not None:  # committed before under this id: a retry, whose reservations found its own
            theirs = tuple(use for _, _, use, _, _ in earlier.claims)
            strays = tuple(0 if use == their else use for use, their in zip(uses, theirs, strict=True))
            await self._unreserve(cart, strays, shared)
            if await self._drive(earlier, check=True) == ["lost"]:
                return None
            return CartRecorded(outcomes, theirs, existing=True)
        if not await self._settle(record):  # the reservations ended already: this process stalled a whole hold
            await self._abort(record)
            raise StoreUnreachable(f"cart {cart.id} could not be settled in time; retry with the same Idempotency-Key")
        self._close_soon(record.id)
        return CartRecorded(outcomes, uses)

    async def _record_at_once(
        self, cart: Cart, payloads: list[str], mode: str, keep: int, now: datetime
    ) -> CartRecorded:
        """One Redis: the whole cart in one script (``cart.lua``), atomic like any script, one round trip."""
        layout, usages = self.layout, cart.usages
        hold = unix_seconds(cart.hold_until)
        keys: list[str] = []
        args: list[Any] = []
        claims: list[list[Any]] = []
        for usage, payload, expires_at, limits in zip(usages, payloads, cart.expires_at, cart.limits, strict=True):
            shared = limits.shared
            slot = layout.locate(usage.code, usage.user, shared=shared)
            keys += [slot.head, layout.stream(slot.shard), slot.totals, slot.holds]
            budget = -1 if limits.budget_cents is None else limits.budget_cents
            args += [slot.field, slot.bits, unix_seconds(expires_at), payload, limits.per_user, limits.max_uses or 0]
            args += [budget, limits.discount_cents, hold if mode == "held" else 0, 1 if shared else 0]
            claims.append([usage.code, payload, shared, mode])
        shard, key, _ = layout.cart(cart.id)
        keys += [key, layout.stream(shard)]
        used_at = usages[0].used_at
        record = _record_json(cart.user, used_at, hold, claims)
        entry = CartEntry(cart.id, cart.user, used_at, cart.hold_until, cart.summary)
        head = [len(usages), cart.id, record, mode, keep, unix_seconds(now), CART_FIELD, cart_payload(entry)]
        head += [STREAM_FIELD, self._capacity, cart.summary]
        answer, *rest = await self._pipeline.call(self._scripts["cart"], keys, head + args)
        if answer == "claimed":
            return CartRecorded((Outcome.CLAIMED,) * len(rest), tuple([int(use) for use in rest]))
        if answer == "exists":
            uses = tuple(claim[2] for claim in _decode(cart.id, rest).claims)
            return CartRecorded(tuple(Outcome.CLAIMED for _ in uses), uses, existing=True)
        return CartRecorded(tuple([recorded(reply).outcome for reply in rest]))

    async def cart(self, cart_id: str, *, now: datetime) -> StoredCart | None:
        await self._prepare()
        record = await self._record(cart_id)
        return None if record is None else record.stored()

    async def confirm_cart(self, cart_id: str, *, now: datetime) -> CartChanged:
        await self._prepare()
        record = await self._record(cart_id)
        if record is None or record.state is CartState.RELEASED:
            return CartChanged(Change.NOT_FOUND)
        if record.state is CartState.EXPIRED or (record.state is CartState.HELD and record.hold_until <= now):
            return CartChanged(Change.EXPIRED)
        already = record.state is CartState.USED
        moved = await self._move(record, "held", CartState.USED, now)
        answers = await self._drive(moved, check=True)  # a confirm again finishes what a dead process left
        if answers == ["lost"]:
            return CartChanged(Change.NOT_FOUND)  # it could never be settled: given back, forgotten
        if answers == ["expired"]:
            return CartChanged(Change.EXPIRED)
        if already and moved.state is CartState.USED:
            return CartChanged(Change.ALREADY, moved.stored())
        if moved.state is not CartState.USED or not any(answer in ("done", "already") for answer in answers):
            return CartChanged(Change.NOT_FOUND)
        return CartChanged(Change.DONE, moved.stored())

    async def give_back_cart(self, cart_id: str, *, now: datetime) -> CartChanged:
        await self._prepare()
        record = await self._record(cart_id)
        if record is None or record.state in (CartState.RELEASED, CartState.EXPIRED):
            return CartChanged(Change.NOT_FOUND)
        if record.state is CartState.HELD and record.hold_until <= now:
            return CartChanged(Change.NOT_FOUND)
        moved = await self._move(record, "held,used", CartState.RELEASED, now)
        answers = await self._drive(moved, check=True)
        if moved.state is not CartState.RELEASED or "done" not in answers:
            return CartChanged(Change.NOT_FOUND, moved.stored())
        return CartChanged(Change.DONE, moved.stored())

    async def finish_carts(self, now: datetime) -> int:
        """Drive every cart left open for a while (its process died midway) to what its record decided."""
        await self._prepare()
        before = unix_seconds(now - FINISH_AFTER)
        pipe = self._redis.pipeline(transaction=False)
        for shard in range(self.layout.shards):
            pipe.zrangebyscore(self._open_set(shard), "-inf", before, start=0, num=FINISH_BATCH)
        with client_failures("reading the open carts failed"):
            async with self._in_flight:
                stale = [cart_id for ids in await pipe.execute() for cart_id in ids]
        finished = 0
        for cart_id in stale:
            record = await self._record(cart_id)
            if record is None:
                await self._close(cart_id)
                continue
            await self._drive(record, check=True)
            finished += 1
        return finished

    # -- the steps -------------------------------------------------------------------------------

    def _cart_keys(self, cart_id: str) -> list[str]:
        shard, key, open_set = self.layout.cart(cart_id)
        return [key, open_set, self.layout.stream(shard)]

    async def _close(self, cart_id: str) -> None:
        """Out of the open set; the first close appends the cart to the stream (the ledger's ``cart_redemptions``)."""
        await self._pipeline.call(self._scripts["cart_move"], self._cart_keys(cart_id), [cart_id, "close", CART_FIELD])

    def _open_set(self, shard: int) -> str:
        return f"{self.layout.namespace}{{{shard}}}:carts"

    async def _begin(self, record: _Record, keep: int, now: datetime) -> _Record | None:
        """Commit the cart; the record committed before under its id, if there is one."""
        shard, key, open_set = self.layout.cart(record.id)
        entry = CartEntry(record.id, record.user, record.used_at, record.hold_until, record.summary)
        args = [record.id, _encode(record), record.state.value, keep, unix_seconds(now)]
        args += [CART_FIELD, cart_payload(entry), ",".join(str(claim[2]) for claim in record.claims), record.summary]
        keys = [key, open_set, self.layout.stream(shard)]
        found = await self._pipeline.call(self._scripts["cart_begin"], keys, args)
        return None if found is None else _decode(record.id, found)

    async def _record(self, cart_id: str) -> _Record | None:
        _, key, _ = self.layout.cart(cart_id)
        with client_failures("reading a cart failed"):
            async with self._in_flight:
                found = await self._redis.hmget(key, ["r", "b", "n", "s", "d"])
        return None if found[0] is None else _decode(cart_id, found)

    async def _move(self, record: _Record, states: str, to: CartState, now: datetime) -> _Record:
        """Write a decision ahead of the usages (if the cart is in one of ``states``); the record after it."""
        args = [record.id, states, to.value, unix_seconds(now)]
        state, decided = await self._pipeline.call(self._scripts["cart_move"], self._cart_keys(record.id), args)
        return dataclasses.replace(record, state=CartState(state), decided=int(decided))

    async def _drive(self, record: _Record, *, check: bool = False) -> list[str]:
        """Move every usage to where the record says the cart is; then close it. Each code's answer.

        ``check``: late (a retry, the finisher): first make sure every reservation is still there. One
        that ended before anybody settled it (its hold passed while the committer was dead) may be
        another shopper's now: the cart is given back whole and forgotten (["lost"]), never half kept.
        """
        if not await self._settle(record, check=check):
            await self._abort(record)
            return ["lost"]
        answers: list[str] = []
        if record.state in (CartState.USED, CartState.RELEASED, CartState.EXPIRED):
            script = "confirm" if record.state is CartState.USED else "give_back"
            moment = datetime.fromtimestamp(record.decided, UTC)
            calls = []
            for code, _, use, shared, _ in record.claims:
                keys, args = self._change_call(code, record.user, use, shared, moment)
                calls.append(self._pipeline.submit(self._scripts[script], keys, args))
            answers = [str(reply[0]) for reply in await asyncio.gather(*calls)]
            if record.state is CartState.USED and "expired" in answers:
                # A hold ended (another claim gave it back) before this confirm reached it: undo the others.
                log.warning("cart %s: a hold ended while the cart was being confirmed; giving back the rest", record.id)
                expired = await self._move(record, "used", CartState.EXPIRED, moment)
                await self._drive(expired)
                return ["expired"]
        await self._close(record.id)
        return answers

    async def _settle(self, record: _Record, *, check: bool = False) -> bool:
        """Announce every reservation of a committed cart; False (nothing announced) if one was lost."""
        rounds = ("check", "") if check else ("",)
        for mode_of_call in rounds:
            calls = []
            for code, _, use, shared, mode in record.claims:
                keys, args = self._change_call(code, record.user, use, shared, record.used_at)
                settle = [args[0], args[1], use, mode, STREAM_FIELD, mode_of_call]
                calls.append(self._pipeline.submit(self._scripts["settle"], keys, settle))
            answers = await asyncio.gather(*calls)
            if "lost" in answers:
                lost = [code for (code, *_), answer in zip(record.claims, answers, strict=True) if answer == "lost"]
                log.warning("cart %s: the reservations of %s ended before the cart was settled", record.id, lost)
                return False
        return True

    async def _abort(self, record: _Record) -> None:
        """Give back whatever the cart still holds (reservations quietly, announced claims on the stream), forget it."""
        now = datetime.now(UTC)
        unreserving, giving = [], []
        for code, _, use, shared, _ in record.claims:
            keys, args = self._change_call(code, record.user, use, shared, now)
            unreserving.append(self._pipeline.submit(self._scripts["unreserve"], keys, args[:3]))
            giving.append((keys, args))
        await asyncio.gather(*unreserving)
        await asyncio.gather(*(self._pipeline.submit(self._scripts["give_back"], keys, args) for keys, args in giving))
        await self._pipeline.call(self._scripts["cart_move"], self._cart_keys(record.id), [record.id, "forget"])

    async def _unreserve(self, cart: Cart, uses: tuple[int, ...], shared: tuple[bool, ...]) -> None:
        """Give back a refused cart's reservations; any left (a failure here) end by themselves."""
        calls = []
        for usage, use, is_shared in zip(cart.usages, uses, shared, strict=True):
            if use > 0:
                keys, args = self._change_call(usage.code, usage.user, use, is_shared, cart.usages[0].used_at)
                calls.append(self._pipeline.submit(self._scripts["unreserve"], keys, args[:3]))
        await asyncio.gather(*calls)

    def _close_soon(self, cart_id: str) -> None:
        """Close the settled cart without the request waiting (the finisher would, later)."""
        task = asyncio.ensure_future(self._close(cart_id))
        self._closing.add(task)
        task.add_done_callback(_closed(self._closing))


def _closed(tasks: set[asyncio.Future[Any]]) -> Any:
    def done(task: asyncio.Future[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("a settled cart stays open until the finisher closes it: %r", task.exception())

    return done


def _record_json(user: str, used_at: datetime, hold_until: int, claims: list[list[Any]]) -> bytes:
    """The record's fixed part: who, when, until when (unix seconds), each code's (code, payload, shared, mode)."""
    micros = unix_micros(used_at)
    return orjson.dumps({"u": user, "at": micros, "h": hold_until, "c": claims})


def _encode(record: _Record) -> bytes:
    claims = [[code, payload, shared, mode] for code, payload, _, shared, mode in record.claims]
    return _record_json(record.user, record.used_at, unix_seconds(record.hold_until), claims)


def _decode(cart_id: str, found: list[Any]) -> _Record:
    """A record from its hash's ``r`` (the fixed part), ``b`` (the summary), ``n`` (the use numbers), ``s``, ``d``."""
    raw, summary, uses, state, decided = found
    values = orjson.loads(raw)
    numbers = [int(use) for use in uses.split(",")]
    return _Record(
        id=cart_id,
        user=values["u"],
        used_at=EPOCH + timedelta(microseconds=values["at"]),
        hold_until=datetime.fromtimestamp(values["h"], UTC),
        summary=summary.encode(),
        claims=tuple(
            (code, payload, use, bool(shared), mode)
            for (code, payload, shared, mode), use in zip(values["c"], numbers, strict=True)
        ),
        state=CartState(state),
        decided=int(decided),
    )
