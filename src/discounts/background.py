"""How the domain asks for work to start once its transaction has committed, without knowing who does it.

A domain function that leaves durable work behind (a queued batch, an outbox event, a queued
fan-out) registers ``soon(job, argument)`` with the unit of work; the process's :class:`Background`
(the Celery publisher, ``jobs/queue.py``) puts it on the broker after the commit. The row is what
matters: a lost message only delays the work until a periodic job finds the row.
"""

from __future__ import annotations

from typing import Protocol

from discounts.db import UnitOfWork

#: Where a session finds the process's :class:`Background` (``Session.info``).
SESSION_KEY = "discounts.background"

#: Jobs the domain asks for by name (the task names, unchanged since they were notify's).
GENERATE_BATCH = "discounts.codes.generate_batch"
PLAN_FANOUT = "discounts.notify.plan_fanout"
DISPATCH_EVENTS = "discounts.events.dispatch"


class Background(Protocol):
    def soon(self, job: str, argument: str | None = None) -> None:
        """Publish ``job`` without waiting for the broker; a failure only logs (the rows stay)."""

    def close(self) -> None: ...


def after_commit(uow: UnitOfWork, job: str, argument: str | None = None) -> None:
    """Start ``job`` once ``uow`` has committed, if this process has a :class:`Background` (tests may not)."""
    background = uow.session.info.get(SESSION_KEY)
    if background is None:
        return

    async def publish() -> None:
        background.soon(job, argument)

    uow.after_commit(publish)
