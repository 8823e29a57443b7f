"""The Celery application's configuration and the one way work is put on its queues.

Tasks are published by name, so the API process can publish without importing the task
code (and the worker's event loop and database holder). Every task is idempotent and
acknowledged late: a message is redelivered if its worker dies, and the database rows it
works on (leases, deliveries) make a second run a no-op where the first one finished.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from celery import Celery
from kombu import Queue
from kombu.exceptions import OperationalError as KombuOperationalError

from discounts.background import DISPATCH_EVENTS, GENERATE_BATCH, PLAN_FANOUT
from discounts.jobs.broker import broker_transport, broker_transport_options, broker_url
from discounts.settings import Settings

log = logging.getLogger(__name__)

SEND_CHUNK = "discounts.notify.send_chunk"
SWEEP_FANOUTS = "discounts.notify.sweep_fanouts"
COPY_LEDGER = "discounts.notify.copy_ledger"
SEND_BRAND_DIGESTS = "discounts.notify.send_brand_digests"
PURGE_EXPIRED_USAGES = "discounts.notify.purge_expired_usages"
FORGET_DELIVERIES = "discounts.notify.forget_deliveries"
FORGET_EVENTS = "discounts.events.forget_events"

#: The ledger copy runs this often; it loops while full batches come back.
LEDGER_COPY_SECONDS = 0.5
PURGE_SECONDS = 3600.0
FORGET_DELIVERIES_SECONDS = 600.0
#: Old events, webhook deliveries and attempts: retention is in days, so once an hour is soon enough.
FORGET_EVENTS_SECONDS = 3600.0
#: Events whose prompt dispatch was lost (a broker outage) wait at most this long.
DISPATCH_SECONDS = 5.0


def queue_names(settings: Settings) -> tuple[str, str]:
    """(mail, control): the bulk work — e-mail, batches, deleting old rows — never delays the ledger copy."""
    return f"{settings.queue_prefix}.mail", f"{settings.queue_prefix}.control"


def make_celery(settings: Settings) -> Celery:
    mail, control = queue_names(settings)
    app = Celery("discounts", set_as_current=False)
    app.conf.update(
        broker_url=broker_url(settings),
        broker_transport=broker_transport(settings),
        broker_transport_options=broker_transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_queues=(Queue(mail, routing_key=mail), Queue(control, routing_key=control)),
        task_default_queue=control,
        task_routes={
            SEND_CHUNK: {"queue": mail},
            SEND_BRAND_DIGESTS: {"queue": mail},
            GENERATE_BATCH: {"queue": mail},
            FORGET_DELIVERIES: {"queue": mail},
            FORGET_EVENTS: {"queue": mail},
        },
        # Deployments (and test runs) sharing a broker neither see nor command each other's workers.
        control_exchange=f"{settings.queue_prefix}.control",
        event_exchange=f"{settings.queue_prefix}.events",
        timezone="UTC",
        enable_utc=True,
        beat_schedule=beat_schedule(settings),
        worker_hijack_root_logger=False,
    )
    return app


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Periodic work; each message expires after its period, so a stopped worker finds no backlog."""

    def every(seconds: float, task: str) -> dict[str, Any]:
        return {"task": task, "schedule": timedelta(seconds=seconds), "options": {"expires": max(1.0, seconds)}}

    return {
        "copy-ledger": every(LEDGER_COPY_SECONDS, COPY_LEDGER),
        "dispatch-events": every(DISPATCH_SECONDS, DISPATCH_EVENTS),
        "send-brand-digests": every(settings.brand_digest_seconds, SEND_BRAND_DIGESTS),
        "sweep-fanouts": every(settings.fanout_sweep_seconds, SWEEP_FANOUTS),
        "purge-expired-usages": every(PURGE_SECONDS, PURGE_EXPIRED_USAGES),
        "forget-deliveries": every(FORGET_DELIVERIES_SECONDS, FORGET_DELIVERIES),
        "forget-events": every(FORGET_EVENTS_SECONDS, FORGET_EVENTS),
    }


class TaskPublisher:
    """Puts tasks on the broker; from a request it never waits for the broker."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._background: ThreadPoolExecutor | None = None

    def plan_fanout(self, code_id: str) -> None:
        self.app.send_task(PLAN_FANOUT, args=[code_id])

    def send_chunks(self, chunk_ids: Sequence[int]) -> None:
        for chunk_id in chunk_ids:
            self.app.send_task(SEND_CHUNK, args=[chunk_id])

    def generate_batch(self, batch_id: str) -> None:
        self.app.send_task(GENERATE_BATCH, args=[batch_id])

    def soon(self, job: str, argument: str | None = None) -> None:
        """Publish from a background thread: a slow or absent broker delays the work, never the response.

        A failure here only logs: the work's row (a queued fan-out, a queued batch, an event not
        dispatched) is still there, and a periodic job enqueues it once the broker is back.
        """
        if self._background is None:
            self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="task-publisher")
        # In the caller's context, so that a warning from the thread carries the request's id.
        self._background.submit(contextvars.copy_context().run, self._publish_once, job, argument)

    def _publish_once(self, job: str, argument: str | None) -> None:
        try:
            self.app.send_task(job, args=[] if argument is None else [argument], retry=False)
        except (KombuOperationalError, ConnectionError) as exc:  # the broker is down: expected, and retried
            log.warning("could not enqueue %s %s now (%r); a periodic job will", job, argument or "", exc)
        except Exception:
            log.warning("could not enqueue %s %s now; a periodic job will", job, argument or "", exc_info=True)

    def close(self) -> None:
        if self._background is not None:
            self._background.shutdown(wait=False, cancel_futures=True)
