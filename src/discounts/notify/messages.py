"""The e-mails and pages, rendered from Jinja2 templates an operator can replace.

Templates are looked up in ``DISCOUNTS_TEMPLATES_DIR`` first and in the package second,
so an operator overrides one file without copying the rest. Each e-mail has a plain-text
and an HTML part (multipart/alternative), and a Message-ID derived from what it is about:
a message sent again after a crash carries the same id, so mail clients can fold the two.
Messages are built with the ``email.mime`` classes: the ``EmailMessage`` header registry
costs five times as much per message, which a million-user fan-out notices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape

from discounts.fields import format_time
from discounts.money import format_money
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings
from discounts.usage.models import DiscountUsage


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


#: UTF-8 bodies as quoted-printable: readable in the raw message, safe on any relay.
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP


def human_time(value: datetime) -> str:
    return f"{format_time(value)[:16].replace('T', ' ')} UTC"


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

    def _message(self, template: str, to: str, message_id: str, context: dict[str, Any]) -> Message:
        message = MIMEMultipart("alternative")
        message["From"] = self._sender
        message["To"] = to
        subject = " ".join(self._env.get_template(f"{template}.subject.txt").render(**context).split())
        message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
        message["Message-ID"] = f"<{message_id}@{self._domain}>"
        # MIMEText takes a Charset instance (documented); typeshed only knows the str form.
        text = self._env.get_template(f"{template}.txt").render(**context)
        message.attach(MIMEText(text, "plain", UTF8_QP))  # type: ignore[arg-type]
        html = self._env.get_template(f"{template}.html").render(**context)
        message.attach(MIMEText(html, "html", UTF8_QP))  # type: ignore[arg-type]
        return message

    def announcement(self, code: CodeFacts, recipient: Recipient, now: datetime) -> Message:
        unsubscribe_url = self._tokens.url(recipient.id)
        user_tag = hashlib.sha256(recipient.id.encode()).hexdigest()[:24]
        context = {"code": code, "recipient": recipient, "unsubscribe_url": unsubscribe_url}
        message = self._message("code_announcement", recipient.email, f"code.{code.code_hash[:24]}.{user_tag}", context)
        message["Date"] = format_datetime(now)
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Precedence"] = "bulk"
        return message

    def digest(
        self, digest_id: int, brand_name: str, brand_email: str, usages: Sequence[DiscountUsage], created_at: datetime
    ) -> Message:
        """The same digest always renders the same message, so a re-send after a crash is a duplicate, not news."""
        context = {"brand_name": brand_name, "usages": usages, "count": len(usages), "public_url": self._public_url}
        message = self._message("brand_digest", brand_email, f"digest.{digest_id}", context)
        message["Date"] = format_datetime(created_at)
        message["Auto-Submitted"] = "auto-generated"
        return message
