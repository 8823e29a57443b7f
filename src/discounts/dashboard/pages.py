"""Rendering the dashboard's pages: one Jinja2 environment, autoescaped, with the filters people read.

The pages load only files of this package (``static/``), so they work with no internet and
under a strict Content-Security-Policy (no inline script or style).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from discounts.codes.models import DiscountCode
from discounts.notify.messages import CodeFacts, describe_terms, format_amount, format_offer, human_time

HERE = Path(__file__).parent
STATIC = HERE / "static"

#: What a batch's states are called on the page.
BATCH_STATES = {"queued": "Queued", "generating": "Making codes", "done": "Done", "failed": "Failed"}
#: What each state is called on the page.
STATES = {"active": "Active", "scheduled": "Scheduled", "expired": "Expired", "exhausted": "Exhausted"}

#: Every page: nothing from elsewhere, no inline code, never framed, no Referer with a link's token.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def terms(code: DiscountCode) -> str:
    """The code's terms in words, as its announcement states them."""
    facts = CodeFacts.of(code, code.rule.brand)
    return describe_terms(facts)


def offer(code: DiscountCode) -> str:
    return format_offer(code.rule.discount, code.rule.amount_off, code.rule.currency)


def rule_offer(rule: Any) -> str:
    """A rule as the API shows it (``RuleOut``): its offer."""
    return format_offer(rule.discount, rule.amount_off, rule.currency)


def money(value: Decimal | None, currency: str | None = None) -> str:
    return "—" if value is None else format_amount(value, currency)


def when(value: datetime | None) -> str:
    return "—" if value is None else human_time(value)


class Pages:
    """The templates, loaded once per process."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            money=money, when=when, offer=offer, rule_offer=rule_offer, terms=terms, number="{:,}".format
        )
        self.env.globals.update(states=STATES, batch_states=BATCH_STATES)

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)
