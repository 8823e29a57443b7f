"""Retention of the outbox and the webhooks: what goes after DISCOUNTS_*_RETENTION_DAYS, and what never does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import Base, unit_of_work
from discounts.events.dispatch import Listener, dispatch
from discounts.events.models import Event
from discounts.events.outbox import EventType, Happened, write
from discounts.events.retention import forget_events
from discounts.jobs.listeners import EVENT_HOLDERS, LISTENERS
from discounts.jobs.queue import FORGET_EVENTS, make_celery, queue_names
from discounts.jobs.retention import forget_old_events
from discounts.settings import Settings
from discounts.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from discounts.webhooks.retention import forget_webhooks
from tests.conftest import FakeClock
from tests.notify.test_worker import wait_for
from tests.notify.worker import WorkerProcess

Sessions = async_sessionmaker[AsyncSession]
MONTH = timedelta(days=30)


async def record(sessions: Sessions, clock: FakeClock, count: int = 1) -> list[int]:
    """``count`` events recorded now, not dispatched; their seqs."""
    async with unit_of_work(sessions) as uow:
        happened = [Happened(EventType.USAGE_USED, "acme", {"n": n}, clock()) for n in range(count)]
        await write(uow.session, happened, clock())
    async with sessions() as session:
        return list((await session.scalars(select(Event.seq).order_by(Event.seq.desc()).limit(count))).all())[::-1]


async def record_dispatched(
    sessions: Sessions, clock: FakeClock, count: int = 1, listeners: Sequence[Listener] = ()
) -> list[int]:
    seqs = await record(sessions, clock, count)
    assert await dispatch(sessions, listeners, clock()) >= count
    return seqs


async def events_left(sessions: Sessions) -> set[int]:
    async with sessions() as session:
        return set((await session.scalars(select(Event.seq))).all())


async def add_endpoint(sessions: Sessions, clock: FakeClock, endpoint_id: str = "wh_1") -> None:
    """A service's endpoint: every brand's events of every type."""
    async with unit_of_work(sessions) as uow:
        uow.session.add(
            WebhookEndpoint(
                id=endpoint_id,
                owner_role="service",
                owner="marketplace",
                brand=None,
                url="https://receiver.example/hook",
                events=None,
                enabled=True,
                secret="whsec_x",
                created_at=clock(),
                updated_at=clock(),
            )
        )


async def add_delivery(sessions: Sessions, clock: FakeClock, event_seq: int, **row: Any) -> int:
    values = {"state": "pending", "attempts": 0, "next_at": clock(), "created_at": clock(), **row}
    async with unit_of_work(sessions) as uow:
        delivery = WebhookDelivery(endpoint_id="wh_1", event_seq=event_seq, **values)
        uow.session.add(delivery)
        await uow.session.flush()
        return delivery.id


async def deliveries_left(sessions: Sessions) -> dict[int, str]:
    async with sessions() as session:
        return {id_: state for id_, state in await session.execute(select(WebhookDelivery.id, WebhookDelivery.state))}


async def add_attempts(sessions: Sessions, clock: FakeClock, count: int) -> None:
    async with unit_of_work(sessions) as uow:
        for n in range(count):
            uow.session.add(
                WebhookAttempt(
                    endpoint_id="wh_1", event_id=f"evt_{n}", type="usage.used", attempt=1, status=200, at=clock()
                )
            )


async def attempt_count(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookAttempt)) or 0)


async def test_dispatched_events_go_after_the_retention_and_undispatched_ones_never_do(
    sessions: Sessions, clock: FakeClock
) -> None:
    await record_dispatched(sessions, clock)  # `old`
    (waiting,) = await record(sessions, clock)  # its dispatch is lost, for two months
    clock.advance(days=20)
    (recent,) = await record_dispatched(sessions, clock)  # dispatches `waiting` too, 20 days after it happened
    clock.advance(days=10)

    assert await forget_events(sessions, clock() - MONTH, EVENT_HOLDERS) == 0  # `old`: exactly 30 days, kept
    clock.advance(seconds=1)
    assert await forget_events(sessions, clock() - MONTH, EVENT_HOLDERS) == 1
    assert await events_left(sessions) == {waiting, recent}

    (never,) = await record(sessions, clock)
    clock.advance(days=60)
    assert await forget_events(sessions, clock() - MONTH, EVENT_HOLDERS) == 2  # `waiting` and `recent`
    assert await events_left(sessions) == {never}  # 60 days old, never dispatched


async def test_an_event_goes_only_once_no_delivery_needs_it(
    sessions: Sessions, clock: FakeClock, settings: Settings
) -> None:
    """The listener makes the deliveries; a finished one goes, then its event; an owed one keeps its event."""
    await add_endpoint(sessions, clock)
    delivered, owed = await record_dispatched(sessions, clock, 2, LISTENERS)
    async with unit_of_work(sessions) as uow:
        made = {
            seq: id_ for seq, id_ in await uow.session.execute(select(WebhookDelivery.event_seq, WebhookDelivery.id))
        }
        await uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.event_seq == delivered)
            .values(state="delivered", attempts=1, finished_at=clock() + timedelta(seconds=1))
        )
        await uow.session.execute(update(WebhookEndpoint).values(enabled=False))  # `owed` waits for it
    assert set(made) == {delivered, owed}
    clock.advance(days=31)

    # A listener's row that is not named a holder would make the key refuse the delete: nothing owed is lost.
    with pytest.raises(IntegrityError):
        await forget_events(sessions, clock() - MONTH, holders=())
    assert await events_left(sessions) == {delivered, owed}

    assert await forget_old_events(sessions, clock(), settings) == {"deliveries": 1, "attempts": 0, "events": 1}
    assert await events_left(sessions) == {owed}
    assert await deliveries_left(sessions) == {made[owed]: "pending"}


def test_every_reference_to_an_event_is_a_holder_retention_checks() -> None:
    """A new table with a foreign key to ``events`` must join ``EVENT_HOLDERS``, or its events would be refused."""
    references = {
        (fk.parent.table.name, fk.parent.name)
        for table in Base.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name == "events"
    }
    assert references == {(holder.class_.__tablename__, holder.key) for holder in EVENT_HOLDERS}
    assert references == {("webhook_deliveries", "event_seq")}


async def test_finished_deliveries_and_old_attempts_go_and_owed_deliveries_never_do(
    sessions: Sessions, clock: FakeClock
) -> None:
    await add_endpoint(sessions, clock)
    (seq,) = await record_dispatched(sessions, clock)
    start = clock()
    finished_old = {
        await add_delivery(sessions, clock, seq, state="delivered", attempts=1, finished_at=start),
        await add_delivery(sessions, clock, seq, state="failed", attempts=11, finished_at=start),
    }
    owed = {
        await add_delivery(sessions, clock, seq): "pending",  # due since the start, never attempted
        # Retrying (its next attempt in 12 hours), and leased by a deliverer at the time of the run:
        await add_delivery(sessions, clock, seq, attempts=9, next_at=start + timedelta(days=35, hours=12)): "pending",
        await add_delivery(sessions, clock, seq, lease_until=start + timedelta(days=35, seconds=60)): "pending",
        # Pending with a finish time (no path reopens a delivery today): the state decides, not the time.
        await add_delivery(sessions, clock, seq, attempts=11, finished_at=start): "pending",
    }
    await add_attempts(sessions, clock, 3)
    clock.advance(days=25)
    recent = {await add_delivery(sessions, clock, seq, state="delivered", attempts=2, finished_at=clock()): "delivered"}
    await add_attempts(sessions, clock, 2)
    clock.advance(days=10)  # the first ones finished 35 days ago, the recent one 10

    forgotten = await forget_webhooks(sessions, clock() - MONTH)
    assert (forgotten.deliveries, forgotten.attempts) == (2, 3)
    assert await deliveries_left(sessions) == owed | recent
    assert not finished_old & set(await deliveries_left(sessions))
    assert await attempt_count(sessions) == 2

    clock.advance(days=365)
    forgotten = await forget_webhooks(sessions, clock() - MONTH)
    assert (forgotten.deliveries, forgotten.attempts) == (1, 2)
    assert await deliveries_left(sessions) == owed  # a year on, still owed


def count_commits(sessions: Sessions) -> list[int]:
    commits: list[int] = []
    engine = sessions.kw["bind"]
    event.listen(engine.sync_engine, "commit", lambda _: commits.append(1))
    return commits


async def test_deletes_go_a_batch_per_transaction_until_done_or_the_run_has_done_enough(
    sessions: Sessions, clock: FakeClock
) -> None:
    await add_endpoint(sessions, clock)
    (seq,) = await record_dispatched(sessions, clock)
    for _ in range(23):
        await add_delivery(sessions, clock, seq, state="delivered", attempts=1, finished_at=clock())
    await add_attempts(sessions, clock, 12)
    clock.advance(days=31)
    commits = count_commits(sessions)

    # Deliveries: 5 + 5 + 5 + 5 + 3, a transaction each; attempts: 5 + 5 + 2.
    forgotten = await forget_webhooks(sessions, clock() - MONTH, batch=5)
    assert (forgotten.deliveries, forgotten.attempts) == (23, 12)
    assert len(commits) == 5 + 3
    assert (await deliveries_left(sessions), await attempt_count(sessions)) == ({}, 0)

    # Events: a run stops after the batch that reaches `per_run`; the next one goes on.
    for _ in range(3):
        await record_dispatched(sessions, clock, 4)
    clock.advance(days=31)
    assert await forget_events(sessions, clock() - MONTH, EVENT_HOLDERS, batch=5, per_run=8) == 10
    assert await forget_events(sessions, clock() - MONTH, EVENT_HOLDERS, batch=5, per_run=8) == 3
    assert await events_left(sessions) == set()


async def test_a_page_of_events_still_held_does_not_end_the_run(sessions: Sessions, clock: FakeClock) -> None:
    """The oldest page is all held by owed deliveries: the run walks past it to the events it may delete."""
    await add_endpoint(sessions, clock)
    held = await record_dispatched(sessions, clock, 5)
    for seq in held:
        await add_delivery(sessions, clock, seq, attempts=3)
    clock.advance(minutes=1)
    await record_dispatched(sessions, clock, 12)
    clock.advance(minutes=1)
    mixed = await record_dispatched(sessions, clock, 6)
    await add_delivery(sessions, clock, mixed[2])
    clock.advance(days=31)
    commits = count_commits(sessions)

    assert await forget_events(sessions, clock() - MONTH, EVENT_HOLDERS, batch=5) == 12 + 5
    assert await events_left(sessions) == {*held, mixed[2]}
    assert len(commits) == 5  # pages of 5: held, free, free, free and mixed, then the short last one
    assert await forget_events(sessions, clock() - MONTH, EVENT_HOLDERS, batch=5) == 0


async def test_the_run_reads_each_retention_from_its_own_setting(
    sessions: Sessions, clock: FakeClock, settings: Settings
) -> None:
    """60 days after: 90 keeps what 30 deletes, and an event old enough still waits for its delivery."""
    await add_endpoint(sessions, clock)
    await record_dispatched(sessions, clock, 1, LISTENERS)
    async with unit_of_work(sessions) as uow:
        await uow.session.execute(update(WebhookDelivery).values(state="delivered", attempts=1, finished_at=clock()))
    await add_attempts(sessions, clock, 1)
    clock.advance(days=60)
    assert (settings.event_retention_days, settings.webhook_retention_days) == (30, 30)
    for events, webhooks, forgotten in [
        (90, 90, {"deliveries": 0, "attempts": 0, "events": 0}),
        (30, 90, {"deliveries": 0, "attempts": 0, "events": 0}),
        (90, 30, {"deliveries": 1, "attempts": 1, "events": 0}),
        (30, 30, {"deliveries": 0, "attempts": 0, "events": 1}),
    ]:
        days = settings.model_copy(update={"event_retention_days": events, "webhook_retention_days": webhooks})
        assert await forget_old_events(sessions, clock(), days) == forgotten, (events, webhooks)


def test_old_events_and_webhooks_are_forgotten_every_hour_on_the_mail_queue(settings: Settings) -> None:
    """In the beat schedule that `discounts worker --beat` runs, which `serve` starts on the embedded default too."""
    assert settings.is_embedded_broker
    app = make_celery(settings)
    entry = app.conf.beat_schedule["forget-events"]
    assert (entry["task"], entry["schedule"]) == (FORGET_EVENTS, timedelta(hours=1))
    mail, _ = queue_names(settings)
    assert app.conf.task_routes[FORGET_EVENTS] == {"queue": mail}


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_worker_on_the_embedded_broker_runs_the_task(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    """No broker server: `discounts worker` (`serve` starts it with --beat) takes the task from the data directory."""
    assert settings.is_embedded_broker
    old = datetime.now(UTC) - timedelta(days=31)
    (gone,) = await record_dispatched(sessions, FakeClock(old))
    (waiting,) = await record(sessions, FakeClock(old))
    worker = WorkerProcess(settings, tmp_path / "worker.log", beat=False).start()
    try:
        make_celery(settings).send_task(FORGET_EVENTS)
        await wait_for(lambda: _without(sessions, gone), 30, "the worker to delete the old dispatched event")
    finally:
        worker.kill()  # SIGTERM to its group may leave it hanging 20 s (its pool killed holding a lock; cli.py)
    assert waiting in await events_left(sessions)  # 31 days old, never dispatched: kept


async def _without(sessions: Sessions, seq: int) -> bool:
    return seq not in await events_left(sessions)
