"""What the pages show, prepared from the domain's values: chart series, their summaries in words, labels, webhooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, get_args

from discounts.codes.models import DiscountRule
from discounts.notify.messages import format_amount, format_offer, human_time
from discounts.usage.history import usage_row
from discounts.usage.schemas import CodeStats, UsesIn
from discounts.webhooks.endpoints import ROTATION_OVERLAP, endpoint_out
from discounts.webhooks.models import WebhookEndpoint
from discounts.webhooks.schemas import AttemptOut, EndpointOut, EventName
from discounts.webhooks.sender import Answer

__all__ = [
    "EVENT_CHOICES",
    "ROTATION_HOURS",
    "USAGE_STATES",
    "AttemptRow",
    "EndpointView",
    "RuleChoice",
    "attempt_rows",
    "charts",
    "endpoint_view",
    "rule_choice",
    "summaries",
    "usage_row",
]

USAGE_STATES = {
    "held": "Held at checkout",
    "used": "Used",
    "released": "Released",
    "rolled_back": "Rolled back",
    "expired": "Hold ended",
}

#: What each event type an endpoint may subscribe to means (a type not named here shows as itself).
EVENT_WORDS = {
    "code.created": "a code was created",
    "usage.used": "a code was used",
    "usage.held": "a code was held at checkout",
    "usage.released": "a use or hold was given back, or a hold ended",
    "code.exhausted": "a code ran out of uses or of budget",
    "batch.done": "a batch of codes is ready",
}
#: The form's checkboxes: every type ``POST /api/v1/webhooks/`` takes, and what it means.
EVENT_CHOICES = [(name, EVENT_WORDS.get(name, name)) for name in get_args(EventName)]
#: How long a rotated-out secret still signs deliveries, in hours.
ROTATION_HOURS = ROTATION_OVERLAP // timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class RuleChoice:
    id: int
    summary: str


def rule_choice(rule: DiscountRule) -> RuleChoice:
    """A rule as the form's "use an existing rule" list names it: its offer and its limits."""
    parts = [f"{format_offer(rule.discount, rule.amount_off, rule.currency)} off"]
    if rule.min_amount is not None:
        parts.append(f"from {format_amount(rule.min_amount, rule.currency)}")
    if rule.max_uses is not None:
        parts.append(f"{rule.max_uses:,} uses")
    if rule.budget is not None:
        parts.append(f"budget {format_amount(rule.budget, rule.currency)}")
    if rule.group:
        parts.append(f"group {rule.group}")
    if rule.products:
        parts.append(f"{len(rule.products):,} {'product' if len(rule.products) == 1 else 'products'}")
    if rule.categories:
        parts.append(f"categories {', '.join(rule.categories)}")
    if rule.stackable:
        parts.append("stackable")
    if rule.priority != 100:
        parts.append(f"priority {rule.priority}")
    return RuleChoice(rule.id, ", ".join(parts))


def _series(points: list[UsesIn]) -> dict[str, list[int]]:
    """A series as uPlot takes it: seconds since the epoch, and the uses at each."""
    return {"x": [int(point.start.timestamp()) for point in points], "y": [point.uses for point in points]}


def charts(stats: CodeStats) -> dict[str, Any]:
    return {"hourly": _series(stats.hourly), "daily": _series(stats.daily)}


def _summary(points: list[UsesIn], unit: str, show: Any) -> str:
    """A chart in one sentence, for people who cannot see it."""
    total = sum(point.uses for point in points)
    if total == 0:
        return "No uses in this period."
    busiest = max(points, key=lambda point: point.uses)
    return f"{total:,} uses in this period; the busiest {unit} was {show(busiest.start)} with {busiest.uses:,}."


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def summaries(stats: CodeStats) -> dict[str, str]:
    return {"hourly": _summary(stats.hourly, "hour", human_time), "daily": _summary(stats.daily, "day", _day)}


@dataclass(frozen=True, slots=True)
class EndpointView:
    """A webhook endpoint as its pages show it: the API's view of it (never its secret), its events in words."""

    endpoint: EndpointOut
    events: str


def endpoint_view(endpoint: WebhookEndpoint) -> EndpointView:
    shown = endpoint_out(endpoint)
    return EndpointView(shown, "All, and any added later" if endpoint.events is None else ", ".join(shown.events))


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One attempt of the deliveries log, and whether it was a delivery (a 2xx, as the sender counts it)."""

    attempt: AttemptOut
    delivered: bool


def attempt_rows(attempts: list[AttemptOut]) -> list[AttemptRow]:
    return [AttemptRow(a, Answer(a.status, a.error).delivered) for a in attempts]
