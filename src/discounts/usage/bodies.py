"""A usage's body: what a redemption answers, what a quote answers, and what the usage's events carry."""

from __future__ import annotations

from discounts.fields import format_time
from discounts.money import format_cents, format_money
from discounts.usage.service import usage_id
from discounts.usage.store import Status, Usage


def quote_out(usage: Usage) -> dict[str, object]:
    """The body of QuoteOut, built from the usage's values (no model to validate again)."""
    body: dict[str, object] = {"code": usage.code, "user": usage.user}
    body.update(usage.offer.fields())
    if usage.currency is not None:
        body["currency"] = usage.currency
    body["amount"] = format_money(usage.amount)
    body["discount_amount"] = format_money(usage.discount_amount)
    body["amount_to_pay"] = format_money(usage.amount_to_pay)
    if usage.allocations is not None:
        body["allocations"] = [{"line": line, "amount": format_cents(cents)} for line, cents in usage.allocations]
    if usage.cart is not None:
        body["cart"] = usage.cart
    return body


def redemption_out(usage: Usage) -> dict[str, object]:
    """The body of RedemptionOut: the quote's, the usage's id and status, and when it was used (and held until)."""
    body: dict[str, object] = {"id": usage_id(usage), "status": usage.status.value}
    body.update(quote_out(usage))
    body["used_at"] = format_time(usage.used_at)
    if usage.status is Status.HELD and usage.hold_until is not None:
        body["hold_expires_at"] = format_time(usage.hold_until)
    return body
