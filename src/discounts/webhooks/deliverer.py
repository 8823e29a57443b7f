"""The deliverer: a long-running loop that sends what is due, each endpoint in a lane of its own.

Every pass it claims, per enabled endpoint, the pending deliveries that are due (a lease in
the row, so two deliverers never send one at once and a killed one's rows are taken over when
the lease ends). Each endpoint has a lane: at most ``DISCOUNTS_WEBHOOK_CONCURRENCY`` attempts in
flight and a few more claimed, so an endpoint that hangs ties up its own lane and nothing else.
Outcomes are written in batches: a 2xx ends the delivery, anything else schedules the next
attempt in the row (``schedule.py``), and the log gets an attempt. A crash between a 2xx and
its write sends that delivery again: at least once, never lost; receivers dedupe by ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import aiohttp
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts import metrics
from discounts.clock import Clock, utcnow
from discounts.db import unit_of_work
from discounts.errors import UNREACHABLE
from discounts.events.models import Event
from discounts.webhooks import schedule, sender
from discounts.webhooks.endpoints import signing_keys
from discounts.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from discounts.webhooks.signing import headers

log = logging.getLogger(__name__)

#: The table itself, for updates by many ids in one statement.
DELIVERIES = cast(Table, WebhookDelivery.__table__)

#: A claimed delivery is the claimer's for this long: its wait in the lane and one attempt.
LEASE = timedelta(seconds=60)
#: A lane that keeps up claims what it sent in this many seconds (so a busy endpoint's deliveries
#: come in a few large claims, not one small claim per few sends), up to ``MOST_CLAIMED``.
CLAIM_AHEAD_SECONDS, MOST_CLAIMED = 2.0, 5000
#: Outcomes are written at least this often (and whenever this many are waiting).
WRITE_SECONDS, WRITE_BATCH = 0.05, 500
BACKLOG_SECONDS = 5.0

#: What the deliverer does when it disables an endpoint (e-mail its brand): (brand, url, since).
OnDisabled = Callable[[str, str, datetime], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    endpoint_id: str
    attempts: int
    event_id: str
    type: str
    occurred_at: datetime
    payload: bytes
    #: Until when this deliverer holds it: an attempt that could not end before is not started.
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    claimed: Claimed
    answer: sender.Answer
    at: datetime


@dataclass
class Lane:
    """One endpoint's deliveries: claimed ones wait in ``queue``; ``size`` workers send them."""

    endpoint: WebhookEndpoint
    queue: asyncio.Queue[Claimed] = field(default_factory=asyncio.Queue)
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    busy: int = 0
    #: When recent attempts ended (monotonic seconds), for the lane's pace.
    ended: deque[float] = field(default_factory=deque)

    @property
    def load(self) -> int:
        return self.queue.qsize() + self.busy

    def attempted(self) -> None:
        self.ended.append(time.monotonic())

    def window(self, least: int) -> int:
        """How many it may hold: ``least``, or what it attempted in the last ``CLAIM_AHEAD_SECONDS``.

        A hanging endpoint attempts a few every 10 s and keeps ``least``; a fast one claims ahead
        in proportion. Should a fast one start hanging, what it holds waits past its lease and is
        dropped unsent (``Deliverer._work``), to be claimed again: never sent twice at once.
        """
        since = time.monotonic() - CLAIM_AHEAD_SECONDS
        while self.ended and self.ended[0] < since:
            self.ended.popleft()
        return max(least, min(MOST_CLAIMED, len(self.ended)))


class Deliverer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        concurrency: int,
        allow_private: bool,
        poll_seconds: float,
        clock: Clock = utcnow,
        on_disabled: OnDisabled | None = None,
    ) -> None:
        self.sessions, self.concurrency, self.allow_private = sessions, concurrency, allow_private
        self.poll_seconds, self.clock, self.on_disabled = poll_seconds, clock, on_disabled
        #: Claimed ahead per lane: every claimed one is attempted well within its lease, even at 10 s each.
        self.prefetch = concurrency * max(1, int(LEASE.total_seconds() / sender.TIMEOUT_SECONDS / 2))
        self.lanes: dict[str, Lane] = {}
        self.outcomes: list[Outcome] = []
        self.client: aiohttp.ClientSession | None = None
        self._wrote = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; what is in flight then is left to its lease."""
        self.client = self.client or sender.new_client()
        writer = asyncio.create_task(self._write_forever(stop))
        backlog = asyncio.create_task(self._backlog_forever(stop))
        try:
            while not stop.is_set():
                try:
                    claimed = await self.pass_once()
                except UNREACHABLE as exc:  # the database is down or slow: wait for it, as every job does
                    log.warning("webhook deliverer: the database is unreachable (%r); trying again", exc)
                    claimed = 0
                if not claimed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.poll_seconds)
        finally:
            writer.cancel()
            backlog.cancel()
            await asyncio.gather(writer, backlog, return_exceptions=True)
            await self.close()

    async def settle(self) -> None:
        """Wait until every claimed delivery has been attempted, and record the outcomes (tests, shutdown)."""
        for lane in list(self.lanes.values()):
            await lane.queue.join()
        while await self.write_outcomes():
            pass

    async def close(self) -> None:
        """Stop the lanes (what they hold is left to its lease) and record what was done."""
        for lane in self.lanes.values():
            for worker in lane.workers:
                worker.cancel()
        await asyncio.gather(*(w for lane in self.lanes.values() for w in lane.workers), return_exceptions=True)
        self.lanes.clear()
        while await self.write_outcomes():
            pass
        if self.client is not None:
            await self.client.close()

    async def pass_once(self) -> int:
        """Claim what is due for every endpoint with room in its lane; returns how many were claimed."""
        async with self.sessions() as session:
            endpoints = (await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))).all()
        self._update_lanes(endpoints)
        claimed = 0
        now = self.clock()
        for lane in self.lanes.values():
            room = lane.window(self.prefetch) - lane.load
            if room <= 0:
                continue
            for item in await self.claim(lane.endpoint.id, room, now):
                lane.queue.put_nowait(item)
                claimed += 1
        return claimed

    def _update_lanes(self, endpoints: Sequence[WebhookEndpoint]) -> None:
        current = {endpoint.id: endpoint for endpoint in endpoints}
        for gone in set(self.lanes) - set(current):
            for worker in self.lanes.pop(gone).workers:
                worker.cancel()
        for endpoint_id, endpoint in current.items():
            lane = self.lanes.get(endpoint_id)
            if lane is None:
                lane = self.lanes[endpoint_id] = Lane(endpoint)
                lane.workers = [asyncio.create_task(self._work(lane)) for _ in range(self.concurrency)]
            lane.endpoint = endpoint  # a new URL or secret applies to the next attempt

    async def claim(self, endpoint_id: str, limit: int, now: datetime) -> list[Claimed]:
        due = (
            select(WebhookDelivery.id)
            .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.state == "pending")
            .where(WebhookDelivery.next_at <= now)
            .where((WebhookDelivery.lease_until.is_(None)) | (WebhookDelivery.lease_until < now))
            .order_by(WebhookDelivery.next_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        lease_until = now + LEASE
        take = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(due.scalar_subquery()))
            .values(lease_until=lease_until)
            .returning(WebhookDelivery.id, WebhookDelivery.event_seq, WebhookDelivery.attempts)
        )
        async with unit_of_work(self.sessions) as uow:
            rows = (await uow.session.execute(take)).all()
            if not rows:
                return []
            seqs = {seq for _, seq, _ in rows}
            found = await uow.session.execute(
                select(Event.seq, Event.id, Event.type, Event.occurred_at, Event.payload).where(Event.seq.in_(seqs))
            )
            events = {seq: (event_id, kind, at, body) for seq, event_id, kind, at, body in found}
        return [
            Claimed(delivery, endpoint_id, attempts, *events[seq][:3], events[seq][3].encode(), lease_until)
            for delivery, seq, attempts in sorted(rows)
        ]

    async def _work(self, lane: Lane) -> None:
        while True:
            item = await lane.queue.get()
            lane.busy += 1
            try:
                if self.clock() + timedelta(seconds=sender.TIMEOUT_SECONDS) > item.lease_until:
                    continue  # it waited too long to finish within its lease: left to be claimed again
                answer = await self.attempt(lane.endpoint, item.event_id, item.payload)
                self.outcomes.append(Outcome(item, answer, self.clock()))
                lane.attempted()
            finally:
                lane.busy -= 1
                lane.queue.task_done()

    async def attempt(self, endpoint: WebhookEndpoint, event_id: str, payload: bytes) -> sender.Answer:
        if self.client is None:
            self.client = sender.new_client()
        now = utcnow()  # the receiver checks webhook-timestamp against its own clock: real time, always
        signed = headers(event_id, payload, signing_keys(endpoint, self.clock()), now)
        return await sender.post(self.client, endpoint.url, payload, signed, allow_private=self.allow_private)

    async def _write_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(WRITE_SECONDS)
            try:
                await self.write_outcomes()
            except UNREACHABLE as exc:
                log.warning("could not record webhook outcomes (%r); retrying", exc)
            except Exception:
                log.warning("could not record webhook outcomes; retrying", exc_info=True)

    async def write_outcomes(self) -> int:
        """Record the outcomes so far in one transaction: delivery rows, the log, the endpoints' health."""
        batch, self.outcomes = self.outcomes[:WRITE_BATCH], self.outcomes[WRITE_BATCH:]
        if not batch:
            return 0
        try:
            disabled = await self._write(batch)
        except BaseException:
            self.outcomes = batch + self.outcomes
            raise
        for outcome in batch:
            _observe(outcome)
        for brand, url, since in disabled:
            if self.on_disabled is not None:
                try:
                    await self.on_disabled(brand, url, since)
                except Exception:
                    log.warning(
                        "could not e-mail brand %s that its endpoint %s was disabled", brand, url, exc_info=True
                    )
        return len(batch)

    async def _write(self, batch: Sequence[Outcome]) -> list[tuple[str, str, datetime]]:
        done: list[dict[str, Any]] = []
        again: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        health: dict[str, list[tuple[datetime, bool]]] = {}
        for outcome in batch:
            item, answer, at = outcome.claimed, outcome.answer, outcome.at
            tries = item.attempts + 1
            attempts.append(
                {
                    "endpoint_id": item.endpoint_id,
                    "event_id": item.event_id,
                    "type": item.type,
                    "attempt": tries,
                    "status": answer.status,
                    "error": answer.error,
                    "at": at,
                }
            )
            health.setdefault(item.endpoint_id, []).append((at, answer.delivered))
            if answer.delivered:
                done.append({"row": item.id, "tries": tries, "state": "delivered", "finished": at})
                continue
            delay = schedule.retry_after(tries)
            if delay is None:
                done.append({"row": item.id, "tries": tries, "state": "failed", "finished": at})
            else:
                again.append({"row": item.id, "tries": tries, "next": at + delay})
        row = DELIVERIES.c
        disabled: list[tuple[str, str, datetime]] = []
        async with unit_of_work(self.sessions) as uow:
            session = uow.session
            if done:
                await session.execute(
                    update(DELIVERIES)
                    .where(row.id == bindparam("row"))
                    .values(attempts=bindparam("tries"), state=bindparam("state"), finished_at=bindparam("finished"))
                    .values(lease_until=None),
                    done,
                )
            if again:
                await session.execute(
                    update(DELIVERIES)
                    .where(row.id == bindparam("row"))
                    .values(attempts=bindparam("tries"), next_at=bindparam("next"), lease_until=None),
                    again,
                )
            await session.execute(insert(WebhookAttempt), attempts)
            for endpoint_id, outcomes in sorted(health.items()):
                endpoint = await session.get(WebhookEndpoint, endpoint_id)
                if endpoint is not None and _fails_for_good(endpoint, outcomes) and endpoint.brand is not None:
                    assert endpoint.failing_since is not None
                    disabled.append((endpoint.brand, endpoint.url, endpoint.failing_since))
        return disabled

    async def _backlog_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.measure_backlog()
            except UNREACHABLE as exc:
                log.info("could not measure the webhook backlog (%r)", exc)
            except Exception:
                log.warning("could not measure the webhook backlog", exc_info=True)
            await asyncio.sleep(BACKLOG_SECONDS)

    async def measure_backlog(self) -> dict[str, int]:
        """Pending deliveries per endpoint (due or waiting for a retry), for /metrics."""
        query = (
            select(WebhookDelivery.endpoint_id, func.count())
            .where(WebhookDelivery.state == "pending")
            .group_by(WebhookDelivery.endpoint_id)
        )
        async with self.sessions() as session:
            counts = {endpoint: int(n) for endpoint, n in (await session.execute(query)).all()}
        for endpoint in set(self.lanes) | set(counts):
            metrics.WEBHOOK_BACKLOG.labels(endpoint).set(counts.get(endpoint, 0))
        return counts


def _fails_for_good(endpoint: WebhookEndpoint, outcomes: Sequence[tuple[datetime, bool]]) -> bool:
    """Follow the endpoint's health through these outcomes, in order; True if it is disabled now."""
    for at, delivered in outcomes:
        if delivered:
            endpoint.failing_since = None
        elif endpoint.failing_since is None:
            endpoint.failing_since = at
        elif endpoint.enabled and at - endpoint.failing_since >= schedule.DISABLE_AFTER:
            endpoint.enabled = False
            endpoint.disabled_reason = "every attempt failed for 3 days"
            endpoint.updated_at = at
            return True
    return False


def _observe(outcome: Outcome) -> None:
    answer = outcome.answer
    if answer.delivered:
        metrics.WEBHOOK_ATTEMPTS.labels("delivered").inc()
        lag = (outcome.at - outcome.claimed.occurred_at).total_seconds()
        metrics.WEBHOOK_LAG.observe(max(0.0, lag))
    elif answer.status is not None:
        metrics.WEBHOOK_ATTEMPTS.labels("http_error").inc()
    elif answer.error and answer.error.startswith("address refused"):
        metrics.WEBHOOK_ATTEMPTS.labels("address_refused").inc()
    elif answer.error and answer.error.startswith("no answer"):
        metrics.WEBHOOK_ATTEMPTS.labels("timeout").inc()
    else:
        metrics.WEBHOOK_ATTEMPTS.labels("connection_error").inc()
