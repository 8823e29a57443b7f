"""A code's and a batch's bodies, as the API answers them and as their events carry them."""

from __future__ import annotations

from typing import Any

from discounts.codes.models import DiscountCode, DiscountCodeBatch
from discounts.codes.schemas import NOT_STARTED, BatchOut, CodeOut, Progress
from discounts.codes.terms import rule_out


def code_out(code: DiscountCode) -> CodeOut:
    return CodeOut(
        id=code.id, hash=code.hash, rule=rule_out(code.rule), validity=code.validity, created_at=code.created_at
    )


def batch_out(batch: DiscountCodeBatch, distribution: Progress | None = None) -> BatchOut:
    """``distribution``: how far its e-mailing has got (the e-mail side knows); not started, if not given."""
    if not batch.distribute:
        distribution = None
    elif distribution is None:
        distribution = NOT_STARTED
    return BatchOut(
        id=batch.id,
        status=batch.status,
        count=batch.count,
        generated=batch.generated,
        kind=batch.kind,
        rule=rule_out(batch.rule),
        validity=batch.validity,
        prefix=batch.prefix,
        length=batch.length,
        distribute=batch.distribute,
        distribution=distribution,
        error=batch.error,
        created_at=batch.created_at,
        finished_at=batch.finished_at,
    )


def as_data(body: CodeOut | BatchOut) -> dict[str, Any]:
    """A body as an event's ``data``: exactly the JSON the API would answer."""
    return body.model_dump(mode="json")
