"""The usage streams read by the ledger copier: one consumer group, entries taken over from a dead copier.

Each shard's stream holds the usages (and carts) not yet in the ledger. The copier reads them
through the group ``LEDGER_GROUP`` — its own entries of a copy that failed first, then those a
dead copier left past the claim time (XAUTOCLAIM), then new ones — and acknowledges them once
the ledger has committed them (acknowledged entries are deleted, so the streams stay short).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from discounts.errors import client_failures
from discounts.usage.redis_layout import LEDGER_GROUP, Layout, split_entry_id, stream_entry
from discounts.usage.store import StreamEntry

#: Entry ids per XACK/XDEL call (Lua's unpack has a stack limit).
ACK_BATCH = 1000
T = TypeVar("T")


class RedisStreams:
    """The stream half of ``RedisUsageStore`` (a mixin: the same client, layout and scripts)."""

    if TYPE_CHECKING:  # what the store provides
        layout: Layout
        consumer: str
        _redis: Redis | RedisCluster
        _in_flight: asyncio.Semaphore
        _claim_idle_ms: int
        _next_shard: int

        async def _prepare(self) -> None: ...

        async def _run(self, calls: Sequence[tuple[str, str, list[Any]]], *, writes: bool) -> list[Any]: ...

    async def _create_groups(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for shard in range(self.layout.shards):
            pipe.xgroup_create(self.layout.stream(shard), LEDGER_GROUP, id="0", mkstream=True)
        for reply in await pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception) and "BUSYGROUP" not in str(reply):
                raise reply

    async def pending(self, limit: int) -> list[StreamEntry]:
        """This copier's own unacknowledged entries, those a dead one left, then new ones; ``limit`` at most."""
        await self._prepare()
        with client_failures("reading the usage streams failed"):
            try:
                return await self._take(limit)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
            # Redis lost its data (a restart without persistence, a wipe): the groups went with it.
            await self._create_groups()
            return await self._take(limit)

    async def _take(self, limit: int) -> list[StreamEntry]:
        order = self._rotated_shards()
        # This consumer's own entries left unacknowledged (its last copy failed): again now, not after the
        # claim time. At most one batch in all (it reads no more before acknowledging), so each shard may give all.
        own = await self._read(dict.fromkeys(order, limit), "0")
        taken = [entry for entries in own.values() for entry in entries][:limit]
        if len(taken) < limit:
            taken += await self._claim_idle(_spread(limit - len(taken), order))
        if len(taken) < limit:
            taken += await self._fill_new(limit - len(taken), order)
        return taken

    async def _fill_new(self, limit: int, order: list[int]) -> list[StreamEntry]:
        """Up to ``limit`` new entries; shards fill unevenly, so what one leaves goes to the others."""
        taken: list[StreamEntry] = []
        while len(taken) < limit and order:
            budgets = _spread(limit - len(taken), order)
            found = await self._read(budgets, ">")
            # A shard that returned less than asked has no more for now; one not asked this round stays.
            order = [shard for shard in order if shard not in budgets or len(found[shard]) == budgets[shard]]
            taken += [entry for entries in found.values() for entry in entries]
        return taken

    def _rotated_shards(self) -> list[int]:
        """Every shard, starting one further each call, so that a small ``limit`` starves none."""
        shards = self.layout.shards
        start, self._next_shard = self._next_shard, (self._next_shard + 1) % shards
        return [(start + i) % shards for i in range(shards)]

    async def _claim_idle(self, budgets: dict[int, int]) -> list[StreamEntry]:
        pipe = self._redis.pipeline(transaction=False)
        for shard, budget in budgets.items():
            stream = self.layout.stream(shard)
            pipe.xautoclaim(stream, LEDGER_GROUP, self.consumer, self._claim_idle_ms, "0-0", count=budget)
        async with self._in_flight:
            replies = await pipe.execute()
        return [
            stream_entry(shard, entry_id, fields)
            for shard, (_, entries, *_) in zip(budgets, replies, strict=True)
            for entry_id, fields in entries
            if fields  # a claimed id whose entry was deleted meanwhile
        ]

    async def _read(self, budgets: dict[int, int], start: str) -> dict[int, list[StreamEntry]]:
        """New entries (``>``), or those this consumer read before and has not acknowledged (``0``)."""
        pipe = self._redis.pipeline(transaction=False)
        for shard, budget in budgets.items():
            pipe.xreadgroup(LEDGER_GROUP, self.consumer, {self.layout.stream(shard): start}, count=budget)
        async with self._in_flight:
            replies = await pipe.execute()
        return {
            shard: [
                stream_entry(shard, entry_id, fields)
                for _, entries in reply or []
                for entry_id, fields in entries
                if fields  # an entry deleted meanwhile
            ]
            for shard, reply in zip(budgets, replies, strict=True)
        }

    async def acknowledge(self, entry_ids: Sequence[str]) -> None:
        await self._prepare()
        by_shard: dict[int, list[str]] = defaultdict(list)
        for entry_id in entry_ids:
            shard, stream_id = split_entry_id(entry_id)
            by_shard[shard].append(stream_id)
        calls = [
            ("acknowledge", self.layout.stream(shard), [LEDGER_GROUP, *part])
            for shard, ids in by_shard.items()
            for part in chunks(ids, ACK_BATCH)
        ]
        await self._run(calls, writes=False)  # a lost acknowledgement only hands the entries out again

    async def purge_expired(self, now: datetime) -> int:
        """Redis expires usages by itself; this only forgets consumers that hold no entries any more."""
        await self._prepare()
        calls = [
            ("prune", self.layout.stream(shard), [LEDGER_GROUP, self._claim_idle_ms])
            for shard in range(self.layout.shards)
        ]
        await self._run(calls, writes=False)
        return 0


def _spread(total: int, shards: Sequence[int]) -> dict[int, int]:
    """``total`` split as evenly as possible over ``shards``, the first ones getting the remainder."""
    if not shards:
        return {}
    each, extra = divmod(total, len(shards))
    budgets = {shard: each + (1 if i < extra else 0) for i, shard in enumerate(shards)}
    return {shard: budget for shard, budget in budgets.items() if budget > 0}


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
