"""Fanning a new code out to its audience by e-mail, in chunks, exactly once per user."""

from __future__ import annotations

from datetime import datetime

from discounts.codes.models import DiscountCode
from discounts.db import UnitOfWork
from discounts.notify.models import Fanout


async def schedule_fanout(uow: UnitOfWork, code: DiscountCode, now: datetime) -> None:
    """Record the fan-out in the request's transaction; it is enqueued once that commits.

    The row is the outbox: if the process dies before the enqueue, the periodic sweep
    finds the queued fan-out and enqueues it, so no code goes unannounced.
    """
    uow.session.add(Fanout(code_id=code.id, status="queued", created_at=now, updated_at=now))
