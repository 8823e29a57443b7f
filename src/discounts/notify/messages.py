"""The e-mails and pages, rendered from Jinja2 templates an operator can replace.

Templates are looked up in ``DISCOUNTS_TEMPLATES_DIR`` first and in the package second,
so an operator overrides one file without copying the rest. Each e-mail has a plain-text
and an HTML part (multipart/alternative, UTF-8 quoted-printable), and a Message-ID derived
from what it is about: a message sent again after a crash carries the same id, so mail
clients can fold the two.

Messages are assembled as bytes here rather than built with ``email.mime`` and flattened
by ``smtplib``: that object model cost 0.8 ms a message, five times the rendering of the
three templates, which a million-user fan-out notices. The structure is fixed and small:
headers, then the two parts, each quoted-printable (``binascii``, in C). A quoted-printable
body never holds ``=_`` (a ``=`` there starts ``=XX`` or a soft line break), so a boundary
that starts with ``=_`` cannot occur in a part.

An announcement's templates see ``code`` (:class:`CodeFacts`), ``headline`` ("15% off") and
``terms`` (the code's terms in words, :func:`describe_terms`), both worded once per code, and
the recipient's ``recipient`` and ``unsubscribe_url``. The digests' ``offer`` filter writes what
a usage was given: its percent, or its fixed amount with the currency.

What a chunk can share it does. Its templates are looked up once (which also skips
Jinja's check of the files for changes per message), and a template that only prints what
differs per recipient is rendered once per chunk with markers in those places (``prerender.py``):
Jinja was two thirds of a message's rendering. Nothing an operator writes is ever rendered
wrong: any other template is rendered in full for every recipient, as before.

A batch's distribution sends each recipient a code of their own (``OwnCode``); then the code's
string and hash are per-recipient values too, and the Message-ID follows the recipient's code.
"""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, NamedTuple, Protocol

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    select_autoescape,
)

from discounts.codes.models import DiscountCode, DiscountRule
from discounts.fields import format_time
from discounts.money import format_money, quantize
from discounts.notify.prerender import Markers, Prerendered, only_prints_recipient
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings
from discounts.usage.models import DiscountUsage

CRLF = "\r\n"


@dataclass(frozen=True, slots=True)
class CodeFacts:
    """What an announcement says about a code, loaded once per chunk: the code and its rule's terms.

    Exactly one of ``discount`` (percent) and ``amount_off`` (in ``currency``) is set; the
    minimum and the budget are in ``currency`` when there is one. ``max_uses_per_user``
    None means once per user.
    """

    code: str
    code_hash: str
    brand_name: str
    discount: int | None
    validity: datetime
    group: str | None
    amount_off: Decimal | None = None
    currency: str | None = None
    min_amount: Decimal | None = None
    starts_at: datetime | None = None
    max_uses: int | None = None
    max_uses_per_user: int | None = None
    budget: Decimal | None = None
    #: Targeting: only these products, or products in these categories (either matches).
    products: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None

    @classmethod
    def of(cls, code: DiscountCode, brand_name: str) -> CodeFacts:
        return cls.of_terms(code.id, code.hash, code.validity, code.rule, brand_name)

    @classmethod
    def of_terms(
        cls, code_id: str, code_hash: str, validity: datetime, rule: DiscountRule, brand_name: str
    ) -> CodeFacts:
        """A code's facts from its parts: a batch's announcement has the rule and validity, no one code."""
        return cls(
            code=code_id,
            code_hash=code_hash,
            brand_name=brand_name,
            discount=rule.discount,
            validity=validity,
            group=rule.group,
            amount_off=rule.amount_off,
            currency=rule.currency,
            min_amount=rule.min_amount,
            starts_at=rule.starts_at,
            max_uses=rule.max_uses,
            max_uses_per_user=rule.max_uses_per_user,
            budget=rule.budget,
            products=None if rule.products is None else tuple(rule.products),
            categories=None if rule.categories is None else tuple(rule.categories),
        )


@dataclass(frozen=True, slots=True)
class Recipient:
    id: str
    email: str


class OwnCode(NamedTuple):
    """The code one recipient of a batch's distribution is sent, and its hash."""

    code: str
    hash: str


class Announcement(Protocol):
    """A code's announcement to one recipient at a time; with an ``OwnCode``, of that code in its terms."""

    def __call__(self, recipient: Recipient, now: datetime, own: OwnCode | None = None) -> Email: ...


@dataclass(frozen=True, slots=True)
class Email:
    """A message ready for the wire: its envelope recipient and its bytes (CRLF line ends)."""

    to: str
    data: bytes


class Templates(NamedTuple):
    subject: Template
    text: Template
    html: Template


def human_time(value: datetime) -> str:
    return f"{format_time(value)[:16].replace('T', ' ')} UTC"


#: Currencies written with their symbol in front ("€5"); any other is written after the number ("5 CHF").
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


def format_amount(value: Decimal, currency: str | None, *, whole: bool = False) -> str:
    """Money for people: "€1,234.50", "$5", "123.45 CHF", or just "50" without a currency.

    With ``whole``, a whole amount drops its ".00" ("€5"), as prose does; amounts with cents keep both places.
    """
    value = quantize(value)
    number = f"{value:,.0f}" if whole and value == value.to_integral_value() else f"{value:,.2f}"
    if currency is None:
        return number
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency}"


def format_offer(percent: int | None, amount_off: Decimal | None, currency: str | None, *, whole: bool = False) -> str:
    """A discount's size: "15%" or a fixed amount with its currency ("€5.00", "5.00 CHF")."""
    if percent is not None:
        return f"{percent}%"
    if amount_off is None:
        raise ValueError("an offer is a percent or an amount off")
    return format_amount(amount_off, currency, whole=whole)


def usage_offer(usage: DiscountUsage) -> str:
    """What a ledger row was given: its percent, or its fixed amount with the currency (the digests' ``offer``)."""
    return format_offer(usage.discount, usage.amount_off, usage.currency)


def headline(code: CodeFacts) -> str:
    """The offer in a few words, for a subject: "15% off", "€5.00 off"."""
    return f"{format_offer(code.discount, code.amount_off, code.currency)} off"


def _count(n: int) -> str:
    return f"{n:,}"


def _some(names: tuple[str, ...], most: int = 5) -> str:
    """ "a, b and c"; past ``most`` names, "a, b, c, d, e and 7 more"."""
    shown = list(names[:most])
    if len(names) > most:
        shown.append(f"{_count(len(names) - most)} more")
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _products(code: CodeFacts) -> str:
    """Which of its products the offer is on: all, some by id, those of some categories, or either."""
    picked = []
    if code.products:
        picked.append(f"{'product' if len(code.products) == 1 else 'products'} {_some(code.products)}")
    if code.categories:
        picked.append(f"those in {_some(code.categories)}")
    return "its products" if not picked else "its " + " and ".join(picked)


def describe_terms(code: CodeFacts) -> str:
    """The code's terms in plain English, to follow "<brand> gives you "; whole sentences, ending in a full stop.

    For example "€5 off orders of €50 or more, from 2027-06-01 00:00 UTC until 2027-08-31 23:59 UTC,
    once per customer, while 1,000 last." or "15% off its products until 2027-05-31 23:59 UTC, once per
    customer. This offer is for wholesale customers."
    """
    offer = f"{format_offer(code.discount, code.amount_off, code.currency, whole=True)} off"
    if code.min_amount is None:
        what = f"{offer} {_products(code)}"
    elif code.products or code.categories:
        minimum = format_amount(code.min_amount, code.currency, whole=True)
        what = f"{offer} {_products(code)}, on {minimum} or more of them"
    else:
        what = f"{offer} orders of {format_amount(code.min_amount, code.currency, whole=True)} or more"
    until = f"until {human_time(code.validity)}"
    when = f" {until}" if code.starts_at is None else f", from {human_time(code.starts_at)} {until}"
    per_user = code.max_uses_per_user or 1
    limits = ["once per customer" if per_user == 1 else f"up to {_count(per_user)} times per customer"]
    supply = []
    if code.max_uses is not None:
        supply.append(f"{_count(code.max_uses)} {'lasts' if code.max_uses == 1 else 'last'}")
    if code.budget is not None:
        supply.append("the budget lasts")
    if supply:
        limits.append("while " + " and ".join(supply))
    terms = f"{what}{when}, {', '.join(limits)}."
    if code.group:
        terms += f" This offer is for {code.group} customers."
    return terms


def _subject(text: str) -> str:
    """Folded at 78 columns; non-ASCII as RFC 2047 encoded words."""
    if text.isascii() and len(text) <= 68:  # fits on the line after "Subject: ": nothing to do
        return text
    return Header(text, "us-ascii" if text.isascii() else "utf-8", header_name="Subject").encode(linesep=CRLF)


def _text_part(subtype: str, body: str) -> str:
    encoded = binascii.b2a_qp(body.replace("\r\n", "\n").encode(), istext=True).decode("ascii")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}'
        + encoded.replace("\n", CRLF)
    )


class MessageRenderer:
    def __init__(self, settings: Settings, tokens: UnsubscribeTokens, sender_domain: str) -> None:
        loaders: list[Any] = [PackageLoader("discounts.notify", "templates")]
        if settings.templates_dir is not None:
            loaders.insert(0, FileSystemLoader(settings.templates_dir))
        self._env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self._env.filters["money"] = format_money
        self._env.filters["when"] = human_time
        self._env.filters["offer"] = usage_offer
        name, address = parseaddr(settings.mail_from)
        self._sender = formataddr((name, address), charset="utf-8")
        self._public_url = settings.public_url.rstrip("/")
        self._tokens = tokens
        self._domain = sender_domain

    def page(self, name: str, **context: Any) -> str:
        return self._env.get_template(name).render(**context)

    def _templates(self, name: str) -> Templates:
        subject, text, html = (self._env.get_template(f"{name}.{kind}") for kind in ("subject.txt", "txt", "html"))
        return Templates(subject, text, html)

    def _email(
        self, templates: Templates, to: str, message_id: str, headers: dict[str, str], context: dict[str, Any]
    ) -> Email:
        subject = " ".join(templates.subject.render(**context).split())
        text = templates.text.render(**context)
        html = templates.html.render(**context)
        return self._assemble(to, _subject(subject), message_id, headers, text, html)

    def _assemble(self, to: str, subject: str, message_id: str, headers: dict[str, str], text: str, html: str) -> Email:
        boundary = f"=_{message_id}"
        head = {
            "From": self._sender,
            "To": to,
            "Subject": subject,
            "Message-ID": f"<{message_id}@{self._domain}>",
            **headers,
            "MIME-Version": "1.0",
            "Content-Type": f'multipart/alternative; boundary="{boundary}"',
        }
        lines = [f"{name}: {value}" for name, value in head.items()]
        lines += ["", f"--{boundary}", _text_part("plain", text), f"--{boundary}", _text_part("html", html)]
        lines += [f"--{boundary}--", ""]
        return Email(to=to, data=CRLF.join(lines).encode())

    def _prerender(
        self, name: str, template: Template, context: dict[str, Any], markers: Markers, personal_code: bool
    ) -> Prerendered | None:
        """The template rendered once for the whole chunk, or None if it must be rendered per recipient."""
        assert self._env.loader is not None
        source = self._env.loader.get_source(self._env, name)[0]
        if not only_prints_recipient(self._env.parse(source), personal_code):
            return None
        pieces = markers.pattern.split(template.render(**context))
        autoescape = self._env.autoescape
        escaped = bool(autoescape(name) if callable(autoescape) else autoescape)
        return Prerendered(tuple(pieces[0::2]), tuple(pieces[1::2]), escaped)

    def announcements(self, code: CodeFacts, *, personal_code: bool = False) -> Announcement:
        """The announcement of ``code`` to one recipient, for a chunk (the templates are looked up now).

        With ``personal_code`` each recipient is sent a code of their own (an ``OwnCode`` per call),
        in ``code``'s terms.
        """
        templates = self._templates("code_announcement")
        # The same for every recipient: worded once per code, whichever way the templates are rendered.
        shared = {"code": code, "headline": headline(code), "terms": describe_terms(code)}
        markers = Markers()
        marked = {
            **shared,
            "recipient": Recipient(markers["recipient.id"], markers["recipient.email"]),
            "unsubscribe_url": markers["unsubscribe_url"],
        }
        if personal_code:
            marked["code"] = dataclasses.replace(code, code=markers["code.code"], code_hash=markers["code.code_hash"])
        names = [f"code_announcement.{kind}" for kind in ("subject.txt", "txt", "html")]
        once = [
            self._prerender(name, template, marked, markers, personal_code)
            for name, template in zip(names, templates, strict=True)
        ]
        subject_once, text_once, html_once = once
        fixed_subject = None
        if subject_once is not None and not subject_once.slots:
            fixed_subject = _subject(" ".join(subject_once.literals[0].split()))
        dates: dict[int, str] = {}

        def announcement(recipient: Recipient, now: datetime, own: OwnCode | None = None) -> Email:
            facts = code if own is None else dataclasses.replace(code, code=own.code, code_hash=own.hash)
            unsubscribe_url = self._tokens.url(recipient.id)
            user_tag = hashlib.sha256(recipient.id.encode()).hexdigest()[:24]
            second = int(now.timestamp())
            date = dates.get(second)
            if date is None:  # Date shows whole seconds: one formatting per second, not per message
                dates.clear()
                date = dates[second] = format_datetime(now)
            headers = {
                "Date": date,
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Precedence": "bulk",
            }
            message_id = f"code.{facts.code_hash[:24]}.{user_tag}"
            if subject_once is None or text_once is None or html_once is None:
                context = {**shared, "code": facts, "recipient": recipient, "unsubscribe_url": unsubscribe_url}
                return self._email(templates, recipient.email, message_id, headers, context)
            values = {"recipient.id": recipient.id, "recipient.email": recipient.email}
            values["unsubscribe_url"] = unsubscribe_url
            values["code.code"], values["code.code_hash"] = facts.code, facts.code_hash
            subject = fixed_subject or _subject(" ".join(subject_once.fill(values).split()))
            text, html = text_once.fill(values), html_once.fill(values)
            return self._assemble(recipient.email, subject, message_id, headers, text, html)

        return announcement

    def digest(
        self,
        digest_id: int,
        brand_name: str,
        brand_email: str,
        usages: Sequence[DiscountUsage],
        created_at: datetime,
        given_back: Sequence[DiscountUsage] = (),
    ) -> Email:
        """The same digest always renders the same message, so a re-send after a crash is a duplicate, not news.

        ``given_back`` are the releases and rollbacks it reports (their discount returned to the code).
        """
        context = {
            "brand_name": brand_name,
            "usages": usages,
            "count": len(usages),
            "given_back": given_back,
            "public_url": self._public_url,
        }
        headers = {"Date": format_datetime(created_at), "Auto-Submitted": "auto-generated"}
        return self._email(self._templates("brand_digest"), brand_email, f"digest.{digest_id}", headers, context)
