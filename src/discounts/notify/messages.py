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

Every message is rendered in full, per recipient: templates may use ``recipient`` in any
way. What a chunk can share it does: the templates are looked up once per chunk
(``announcements``), which also skips Jinja's check of the files for changes per message.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, NamedTuple

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    select_autoescape,
)

from discounts.fields import format_time
from discounts.money import format_money
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings
from discounts.usage.models import DiscountUsage

CRLF = "\r\n"


@dataclass(frozen=True, slots=True)
class CodeFacts:
    """What an announcement says about a code, loaded once per chunk."""

    code: str
    code_hash: str
    brand_name: str
    discount: int
    validity: datetime
    group: str | None


@dataclass(frozen=True, slots=True)
class Recipient:
    id: str
    email: str


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
        boundary = f"=_{message_id}"
        head = {
            "From": self._sender,
            "To": to,
            "Subject": _subject(subject),
            "Message-ID": f"<{message_id}@{self._domain}>",
            **headers,
            "MIME-Version": "1.0",
            "Content-Type": f'multipart/alternative; boundary="{boundary}"',
        }
        lines = [f"{name}: {value}" for name, value in head.items()]
        lines += ["", f"--{boundary}", _text_part("plain", text), f"--{boundary}", _text_part("html", html)]
        lines += [f"--{boundary}--", ""]
        return Email(to=to, data=CRLF.join(lines).encode())

    def announcements(self, code: CodeFacts) -> Callable[[Recipient, datetime], Email]:
        """The announcement of ``code`` to one recipient, for a chunk (the templates are looked up now)."""
        templates = self._templates("code_announcement")

        def announcement(recipient: Recipient, now: datetime) -> Email:
            unsubscribe_url = self._tokens.url(recipient.id)
            user_tag = hashlib.sha256(recipient.id.encode()).hexdigest()[:24]
            headers = {
                "Date": format_datetime(now),
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Precedence": "bulk",
            }
            context = {"code": code, "recipient": recipient, "unsubscribe_url": unsubscribe_url}
            message_id = f"code.{code.code_hash[:24]}.{user_tag}"
            return self._email(templates, recipient.email, message_id, headers, context)

        return announcement

    def digest(
        self, digest_id: int, brand_name: str, brand_email: str, usages: Sequence[DiscountUsage], created_at: datetime
    ) -> Email:
        """The same digest always renders the same message, so a re-send after a crash is a duplicate, not news."""
        context = {"brand_name": brand_name, "usages": usages, "count": len(usages), "public_url": self._public_url}
        headers = {"Date": format_datetime(created_at), "Auto-Submitted": "auto-generated"}
        return self._email(self._templates("brand_digest"), brand_email, f"digest.{digest_id}", headers, context)
