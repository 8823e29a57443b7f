"""The create forms: their fields become the API's own request body, the API's errors their fields' messages.

The form posts what a person types (strings, a local date and time); :func:`code_body` turns it
into exactly the JSON body ``POST /api/v1/discountcode/`` takes (:func:`batch_body` and
:func:`webhook_body` likewise for theirs), so the same validation and the same domain function
decide, and each problem detail's ``loc`` names the field to show it by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The rule's optional fields, in the form's order, with what they are called there.
RULE_FIELDS = {
    "discount": "Percent off",
    "amount_off": "Amount off",
    "currency": "Currency",
    "min_amount": "Minimum order",
    "starts_at": "Starts at",
    "max_uses": "Total uses",
    "max_uses_per_user": "Uses per customer",
    "budget": "Budget",
    "group": "Customer group",
    "products": "Products",
    "categories": "Categories",
    "stackable": "Combines",
    "priority": "Priority",
}
#: A batch's own fields.
BATCH_FIELDS = {"count": "How many codes", "prefix": "Prefix", "length": "Random characters", "distribute": "E-mail"}
#: A webhook endpoint's fields.
WEBHOOK_FIELDS = {"url": "URL", "events": "Events", "description": "Description"}
LABELS = {"id": "Code", "validity": "Valid until", **BATCH_FIELDS, "rule": "Rule", **RULE_FIELDS, **WEBHOOK_FIELDS}
INTEGERS = frozenset({"discount", "max_uses", "max_uses_per_user", "count", "length", "priority"})
#: Typed as one line, separated by commas: JSON lists.
LISTS = frozenset({"products", "categories"})
#: Checkboxes: present (checked) or not.
CHECKBOXES = frozenset({"stackable"})
TIMES = frozenset({"starts_at", "validity"})
#: What each kind of discount uses; the other kind's fields are ignored (the page hides them).
KIND_FIELDS = {"percent": {"discount"}, "amount": {"amount_off", "currency"}}
#: A checkbox per event type, ``event:code.created`` (a form keeps one value per name).
EVENT_BOX = "event:"
#: A form posts a few dozen fields; more is not a person at a form.
MAX_FIELDS = 64
LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; a repeated field keeps its last value."""
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(pairs)


def zone(name: str | None) -> ZoneInfo:
    """The browser's time zone (the page sends it), else UTC."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _time(value: str, tz: ZoneInfo) -> str:
    """``2027-05-31T23:59`` from a date-time field, in the browser's zone, as ISO 8601 with its offset."""
    if not LOCAL_TIME.fullmatch(value):
        return value  # the API's own message says what a time must be
    try:
        return datetime.fromisoformat(value).replace(tzinfo=tz).isoformat()
    except ValueError:
        return value


def _value(name: str, raw: str, tz: ZoneInfo) -> object:
    if name in INTEGERS and raw.isdigit():
        return int(raw)
    if name in LISTS:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if name in CHECKBOXES:
        return True
    if name in TIMES:
        return _time(raw, tz)
    return raw


def _rule(form: Mapping[str, str], brand: str, tz: ZoneInfo) -> object:
    """A rule of its own (the kind's fields; blank ones left out), or an existing rule's id."""
    reuse = form.get("rule", "new")
    if reuse != "new":
        return int(reuse) if reuse.isdigit() else reuse
    other = set().union(*KIND_FIELDS.values()) - KIND_FIELDS.get(form.get("kind", "percent"), set())
    rule: dict[str, object] = {"brand": brand}
    for name in RULE_FIELDS:
        raw = form.get(name, "").strip()
        if raw and name not in other:
            rule[name] = _value(name, raw, tz)
    return rule


def _validity(form: Mapping[str, str], body: dict[str, Any], tz: ZoneInfo) -> None:
    if form.get("validity"):  # else the API's own "Field required"
        body["validity"] = _time(form["validity"], tz)


def code_body(form: Mapping[str, str], brand: str) -> dict[str, Any]:
    """The JSON body of ``POST /api/v1/discountcode/`` for what the form holds; blank fields are left out."""
    tz = zone(form.get("tz"))
    body: dict[str, Any] = {"id": form.get("id", "").strip()}
    _validity(form, body, tz)
    body["rule"] = _rule(form, brand, tz)
    return body


def batch_body(form: Mapping[str, str], brand: str) -> dict[str, Any]:
    """The JSON body of ``POST /api/v1/discountcodebatch/``; ``distribute`` is a checkbox (present or not)."""
    tz = zone(form.get("tz"))
    body: dict[str, Any] = {}
    for name in ("count", "prefix", "length"):
        raw = form.get(name, "").strip()
        if raw:
            body[name] = _value(name, raw, tz)
    body["distribute"] = "distribute" in form
    _validity(form, body, tz)
    body["rule"] = _rule(form, brand, tz)
    return body


def webhook_body(form: Mapping[str, str]) -> dict[str, Any]:
    """The JSON body of ``POST /api/v1/webhooks/``: no box ticked leaves ``events`` out (every type)."""
    body: dict[str, Any] = {"url": form.get("url", "").strip()}
    events = [name.removeprefix(EVENT_BOX) for name in form if name.startswith(EVENT_BOX)]
    if events:
        body["events"] = events
    if description := form.get("description", "").strip():
        body["description"] = description
    return body


def field_of(loc: Sequence[str], inline_rule: bool) -> str | None:
    """The form field a problem's ``loc`` names: ``body.rule.RuleIn.discount`` → ``discount``.

    A rule is a union (an object or a rule id), and Pydantic reports a bad one against both:
    only the errors of the form the page sent are the page's (None for the others).
    """
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    if parts[:1] != ["rule"] or len(parts) == 1:
        return parts[0] if parts else ""
    member = parts[1]
    if member == "RuleIn":
        return (parts[2] if len(parts) > 2 else "rule") if inline_rule else None
    if member in RULE_FIELDS or member == "brand":
        return member if inline_rule else None
    return None if inline_rule else "rule"  # the rule-id member ("constrained-int")


def _readable(message: str) -> str:
    return message.removeprefix("Value error, ")


@dataclass
class FormProblem:
    """A problem detail as the form shows it: its title and detail on top, each error by its field."""

    title: str
    detail: str
    by_field: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, problem: Mapping[str, Any], form: Mapping[str, str]) -> FormProblem:
        """``form`` says which fields the page showed: a rule of its own or a rule id, which kind of discount."""
        inline_rule = form.get("rule", "new") == "new"
        shown = cls(title=str(problem["title"]), detail=str(problem["detail"]))
        for error in problem.get("errors") or ():
            name = field_of([str(part) for part in error["loc"]], inline_rule)
            if name == "discount" and form.get("kind") == "amount":
                name = "amount_off"  # "give a discount or an amount off", said where the page asks for one
            if name is not None:
                target = name if name in LABELS else ""
                shown.by_field.setdefault(target, []).append(_readable(str(error["msg"])))
        if problem["code"] == "code_exists":
            shown.by_field.setdefault("id", []).append(str(problem["detail"]))
        elif problem["code"] == "brand_mismatch":
            shown.by_field.setdefault("rule", []).append(str(problem["detail"]))
        return shown

    def first_field(self) -> str | None:
        return next((name for name in LABELS if name in self.by_field), None)


def local_input(moment: datetime | None, tz: ZoneInfo | None = None) -> str:
    """A time as a date-time field shows it (``2027-05-31T23:59``), in the given zone (UTC by default)."""
    if moment is None:
        return ""
    return moment.astimezone(tz or UTC).strftime("%Y-%m-%dT%H:%M")
