"""The Celery tasks of every domain: thin shells that run its async jobs on the worker's loop.

Fan-outs and digests (notify), batches (codes), the ledger copy (usage), dispatching events and
forgetting old ones.

Each worker process gets one event loop and one set of connections (database, usage store,
mail templates), built on its first task after the fork and kept for its lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from celery.signals import worker_process_shutdown

from discounts.background import DISPATCH_EVENTS, GENERATE_BATCH, PLAN_FANOUT
from discounts.clock import utcnow
from discounts.codes.generation import StepOutcome, generate_step, stuck_batches
from discounts.errors import UNREACHABLE, MailTemporaryError
from discounts.events.dispatch import dispatch
from discounts.jobs.listeners import LISTENERS
from discounts.jobs.queue import (
    COPY_LEDGER,
    FORGET_DELIVERIES,
    FORGET_EVENTS,
    PURGE_EXPIRED_USAGES,
    SEND_BRAND_DIGESTS,
    SEND_CHUNK,
    SWEEP_FANOUTS,
    TaskPublisher,
    make_celery,
)
from discounts.jobs.retention import forget_old_events
from discounts.notify.chunks import ChunkOutcome, send_chunk
from discounts.notify.context import Notifier
from discounts.notify.digest import copy_usages, send_brand_digests
from discounts.notify.fanout import forget_deliveries, plan_fanout, sweep
from discounts.runtime import Runtime
from discounts.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

settings = get_settings()
celery_app = make_celery(settings)
publisher = TaskPublisher(celery_app)


class WorkerProcess:
    """The event loop and the connections of one worker process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        settings.ensure_data_dir()
        self.runtime = Runtime.start(settings, background=publisher)
        self.notifier = Notifier.build(settings, self.runtime.sessions)

    def run(self, job: Callable[[Runtime, Notifier], Awaitable[T]]) -> T:
        return self.loop.run_until_complete(job(self.runtime, self.notifier))

    def stop(self) -> None:
        self.loop.run_until_complete(self.runtime.stop())
        self.loop.close()


_process: WorkerProcess | None = None


def run(job: Callable[[Runtime, Notifier], Awaitable[T]]) -> T:
    """Run ``job`` on this process's loop (built after the fork: loops and sockets do not survive one)."""
    global _process
    if _process is None or _process.pid != os.getpid():
        _process = WorkerProcess()
    return _process.run(job)


def run_periodic(name: str, job: Callable[[Runtime, Notifier], Awaitable[T]]) -> T | None:
    """A periodic job whose store is unreachable just waits for its next run (beat sends it again).

    An outage of Redis or the database is an operator's warning, once a run, not a traceback.
    """
    try:
        return run(job)
    except UNREACHABLE as exc:
        log.warning("%s: a store is unreachable (%r); the next run tries again", name, exc)
        return None


@worker_process_shutdown.connect
def _close(**_: Any) -> None:
    if _process is not None and _process.pid == os.getpid():
        _process.stop()


#: A task that met an unreachable store (a database restart, a Redis failover) or, for a chunk, a
#: mail server's temporary failure runs again later, with back-off.
RETRY_UNREACHABLE: dict[str, Any] = {
    "retry_backoff": 2,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 12,
}


@celery_app.task(name=PLAN_FANOUT, autoretry_for=UNREACHABLE, **RETRY_UNREACHABLE)
def plan_fanout_task(code_id: str) -> int:
    chunk_ids = run(lambda _, notifier: plan_fanout(notifier, code_id, utcnow()))
    publisher.send_chunks(chunk_ids)
    return len(chunk_ids)


@celery_app.task(name=SEND_CHUNK, autoretry_for=(MailTemporaryError, *UNREACHABLE), **RETRY_UNREACHABLE)
def send_chunk_task(chunk_id: int) -> str:
    """Temporary mail and store failures retry with back-off; after the last retry the sweep takes over."""
    result = run(lambda _, notifier: send_chunk(notifier, chunk_id, utcnow))
    if result.outcome is ChunkOutcome.done and result.code_id is not None:
        code_id = result.code_id
        publisher.send_chunks(run(lambda _, notifier: plan_fanout(notifier, code_id, utcnow())))
    return result.outcome.value


@celery_app.task(name=GENERATE_BATCH)
def generate_batch_task(batch_id: str) -> str:
    """One step of a batch's generation; it enqueues the next (the last one records ``batch.done``)."""
    step = run(
        lambda runtime, _: generate_step(runtime.sessions, batch_id, utcnow(), chunk_size=settings.batch_chunk_size)
    )
    if step.outcome is StepOutcome.more:
        publisher.generate_batch(batch_id)
    return step.outcome.value


@celery_app.task(name=SWEEP_FANOUTS)
def sweep_fanouts_task() -> dict[str, int]:
    """Lost fan-outs, chunks and batch generations, enqueued again."""
    found = run_periodic(SWEEP_FANOUTS, lambda _, notifier: sweep(notifier, utcnow()))
    if found is None:
        return {}
    for code_id in found.fanouts:
        publisher.plan_fanout(code_id)
    publisher.send_chunks(found.chunks)
    batches = run(
        lambda _, notifier: stuck_batches(
            notifier.sessions, utcnow(), interval=timedelta(seconds=settings.fanout_sweep_seconds), lease=notifier.lease
        )
    )
    for batch_id in batches:
        publisher.generate_batch(batch_id)
    if found.fanouts or found.chunks or batches:
        log.info("sweep re-enqueued fan-outs %s, %d chunks and batches %s", found.fanouts, len(found.chunks), batches)
    return {
        "fanouts": len(found.fanouts),
        "chunks": len(found.chunks),
        "finished": len(found.finished),
        "batches": len(batches),
    }


@celery_app.task(name=COPY_LEDGER)
def copy_ledger_task() -> int | None:
    """Copy the usage store's stream to the ledger, then hand the events the copy recorded to their listeners."""
    copied = run_periodic(
        COPY_LEDGER,
        lambda runtime, _: copy_usages(runtime.store, runtime.sessions, settings.ledger_batch_size, runtime.drains),
    )
    if copied:
        run_periodic(DISPATCH_EVENTS, lambda runtime, _: dispatch(runtime.sessions, LISTENERS, utcnow()))
    return copied


@celery_app.task(name=DISPATCH_EVENTS)
def dispatch_events_task() -> int | None:
    """Events recorded and not yet heard: right after a request or a step commits them, and every few seconds."""
    return run_periodic(DISPATCH_EVENTS, lambda runtime, _: dispatch(runtime.sessions, LISTENERS, utcnow()))


@celery_app.task(name=SEND_BRAND_DIGESTS)
def send_brand_digests_task() -> dict[str, Any]:
    outcome = run_periodic(SEND_BRAND_DIGESTS, lambda _, notifier: send_brand_digests(notifier, utcnow))
    if outcome is None:
        return {}
    if outcome.deferred:
        log.warning("brand digests deferred to the next run: %s", outcome.deferred)
    return {"claimed": outcome.claimed, "sent": outcome.sent, "failed": outcome.failed}


@celery_app.task(name=PURGE_EXPIRED_USAGES)
def purge_expired_usages_task() -> int | None:
    return run_periodic(PURGE_EXPIRED_USAGES, lambda runtime, _: runtime.store.purge_expired(utcnow()))


@celery_app.task(name=FORGET_DELIVERIES)
def forget_deliveries_task() -> int | None:
    keep = timedelta(days=settings.delivery_retention_days)
    return run_periodic(FORGET_DELIVERIES, lambda runtime, _: forget_deliveries(runtime.sessions, utcnow(), keep))


@celery_app.task(name=FORGET_EVENTS)
def forget_events_task() -> dict[str, int]:
    """Webhook deliveries finished and attempts made, and events dispatched, longer ago than their retention."""
    return run_periodic(FORGET_EVENTS, lambda runtime, _: forget_old_events(runtime.sessions, utcnow(), settings)) or {}
