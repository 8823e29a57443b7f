"""Announcements are assembled as bytes, not with ``email.mime``: any MIME parser must read back what was rendered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from jinja2 import Environment

from discounts.notify import messages
from discounts.notify.messages import (
    CodeFacts,
    MessageRenderer,
    OwnCode,
    Recipient,
    describe_terms,
    format_amount,
    headline,
)
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings
from discounts.usage.models import DiscountUsage
from tests.conftest import SECRET

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BRAND = "Café Œuvre & <Fils> " + "très " * 12  # non-ASCII, HTML-special, and too long for one header line
CODE = CodeFacts("SPRING", "ab" * 32, BRAND.strip(), 15, datetime(2027, 5, 31, 23, 59, tzinfo=UTC), "wholesale")


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert [part.defects for part in message.walk()] == [[], [], []]
    return message


def test_an_announcement_reads_back_exactly_as_rendered(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        jwt_secret=SECRET,
        public_url="http://discounts.test",
        mail_from="Rabais Été <promo@discounts.test>",
        _env_file=None,  # type: ignore[call-arg]
    )
    tokens = UnsubscribeTokens(settings)
    announcement = MessageRenderer(settings, tokens, "discounts.test").announcements(CODE)

    email = announcement(Recipient("u1", "u1@example.com"), NOW)
    message = parse(email.data)

    assert email.to == message["To"] == "u1@example.com"
    assert message["From"] == "Rabais Été <promo@discounts.test>"
    assert message["Subject"] == f"15% off at {CODE.brand_name} with code SPRING"
    assert message.get_content_type() == "multipart/alternative"
    # Parsed from the wire, the lines end in CRLF; a mail client shows them as lines.
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    terms = "15% off its products until 2027-05-31 23:59 UTC, once per customer."
    assert f"{CODE.brand_name} gives you {terms}" in text
    assert "Your code:\n\n    SPRING\n\nEnter it at checkout.\n" in text
    assert "Café Œuvre &amp; &lt;Fils&gt;" in html
    assert "This offer is for wholesale customers." in text
    link = message["List-Unsubscribe"].strip("<>")
    assert tokens.user_id(parse_qs(urlsplit(link).query)["token"][0]) == "u1"
    assert link in text
    assert f'href="{link}"' in html
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    lines = email.data.split(b"\r\n")
    assert b"\n" not in email.data.replace(b"\r\n", b"")  # CRLF line ends only, as SMTP wants
    assert email.data.isascii()  # a 7-bit message: quoted-printable bodies, RFC 2047 headers
    subject = next(n for n, line in enumerate(lines) if line.startswith(b"Subject:"))
    assert lines[subject + 1].startswith(b" ")  # the long subject is folded
    body = lines[lines.index(b"") :]
    assert max(len(line) for line in body) <= 76

    again = announcement(Recipient("u1", "u1@example.com"), NOW)
    assert again.data == email.data  # a re-send after a crash is the same message, byte for byte
    other = parse(announcement(Recipient("u2", "u2@example.com"), NOW).data)
    assert other["Message-ID"] != message["Message-ID"]
    assert other["List-Unsubscribe"] != message["List-Unsubscribe"]


def renderer(tmp_path: Path, templates: dict[str, str] | None = None) -> MessageRenderer:
    override = None
    if templates:
        override = tmp_path / "templates"
        override.mkdir(parents=True)
        for name, source in templates.items():
            (override / name).write_text(source)
    settings = Settings(
        data_dir=tmp_path,
        jwt_secret=SECRET,
        public_url="http://discounts.test",
        templates_dir=override,
        _env_file=None,  # type: ignore[call-arg]
    )
    return MessageRenderer(settings, UnsubscribeTokens(settings), "discounts.test")


RECIPIENTS = [
    Recipient("u1", "u1@example.com"),
    Recipient('a&b<"c">', "jörg@exämple.com"),
    Recipient("x" * 60, "x@y.z"),
]


def test_rendering_once_per_chunk_gives_exactly_what_a_full_render_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_subject = "{{ recipient.email }} " * 6 + "{{ code.code }}"  # folded differently per recipient
    for templates in (None, {"code_announcement.subject.txt": long_subject}):
        once = renderer(tmp_path / str(bool(templates)), templates).announcements(CODE)
        with monkeypatch.context() as patched:
            patched.setattr(messages, "only_prints_recipient", lambda *_: False)
            full = renderer(tmp_path / f"full{bool(templates)}", templates).announcements(CODE)
        for recipient in RECIPIENTS:
            assert once(recipient, NOW) == full(recipient, NOW)
    packaged = renderer(tmp_path / "packaged")
    for kind in ("subject.txt", "txt", "html"):  # the packaged templates do take the render-once path
        name = f"code_announcement.{kind}"
        assert packaged._env.loader is not None
        assert messages.only_prints_recipient(
            packaged._env.parse(packaged._env.loader.get_source(packaged._env, name)[0])
        )


def test_each_recipient_of_a_batch_gets_their_own_code_exactly_as_a_full_render_gives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terms = replace(CODE, code="", code_hash="")  # a batch's announcement: the terms, no code of its own
    own = [OwnCode(f"BATCH{n:03d}", f"{n:02d}" * 32) for n in range(len(RECIPIENTS))]
    once = renderer(tmp_path / "once").announcements(terms, personal_code=True)
    with monkeypatch.context() as patched:
        patched.setattr(messages, "only_prints_recipient", lambda *_: False)
        full = renderer(tmp_path / "full").announcements(terms, personal_code=True)
    for recipient, code in zip(RECIPIENTS, own, strict=True):
        email = once(recipient, NOW, code)
        assert email == full(recipient, NOW, code)
        message = parse(email.data)
        assert code.code in message["Subject"]
        assert code.code in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert message["Message-ID"].startswith(f"<code.{code.hash[:24]}.")
    packaged = renderer(tmp_path / "packaged")
    for kind in ("subject.txt", "txt", "html"):  # still the render-once path with a code per recipient
        assert packaged._env.loader is not None
        source = packaged._env.loader.get_source(packaged._env, f"code_announcement.{kind}")[0]
        assert messages.only_prints_recipient(packaged._env.parse(source), personal_code=True)


@pytest.mark.parametrize(
    ("source", "only_printed"),
    [
        ("{{ code.code }} {{ code.code_hash }} {{ code.brand_name | upper }} {{ recipient.id }}", True),
        ("{% if code.group %}{{ code.code }}{% endif %}", True),
        ("{{ code.code | upper }}", False),
        ("{% if code.code %}x{% endif %}", False),
        ("{{ code }}", False),
        ("{{ code['code'] }}", False),
        ("{% set c = code %}{{ c.code }}", False),
    ],
)
def test_which_templates_can_be_rendered_once_with_a_code_per_recipient(source: str, only_printed: bool) -> None:
    assert messages.only_prints_recipient(Environment().parse(source), personal_code=True) is only_printed


def test_a_template_that_uses_the_recipient_otherwise_is_rendered_for_each_one(tmp_path: Path) -> None:
    vip = "{% if recipient.id == 'u1' %}VIP {% endif %}{{ recipient.email | upper }}\n{{ unsubscribe_url }}\n"
    announcement = renderer(tmp_path, {"code_announcement.txt": vip}).announcements(CODE)
    first, second = (parse(announcement(recipient, NOW).data) for recipient in RECIPIENTS[:2])
    assert first.get_body(("plain",)).get_content().startswith("VIP U1@EXAMPLE.COM")  # type: ignore[union-attr]
    assert second.get_body(("plain",)).get_content().startswith("JÖRG@EXÄMPLE.COM")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("source", "only_printed"),
    [
        ("{{ recipient.id }} {{ recipient.email }} {{ unsubscribe_url }} {{ code.code | upper }}", True),
        ("{% if code.group %}{{ recipient.email }}{% endif %}", True),
        ("{{ recipient.email | upper }}", False),
        ("{% if recipient.id %}x{% endif %}", False),
        ("{{ recipient }}", False),
        ("{{ recipient['id'] }}", False),
        ("{{ recipient.id ~ '!' }}", False),
        ("{% set recipient = code %}{{ recipient.id }}", False),
        ("{% for x in [recipient] %}{{ x.id }}{% endfor %}", False),
        ("{% include 'other.txt' %}{{ recipient.id }}", False),
        ("{% autoescape false %}{{ unsubscribe_url }}{% endautoescape %}", False),
    ],
)
def test_which_templates_can_be_rendered_once(source: str, only_printed: bool) -> None:
    assert messages.only_prints_recipient(Environment().parse(source)) is only_printed


def test_unsubscribe_tokens_are_the_jwts_pyjwt_writes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    tokens = UnsubscribeTokens(settings)
    for user_id in ("u1", "jörg", 'a"b\\c', "x" * 64, "\u2028"):
        token = tokens.mint(user_id)
        assert token == jwt.encode({"sub": user_id, "purpose": "unsubscribe"}, tokens._key, algorithm="HS256")
        assert tokens.user_id(token) == user_id


PERCENT = replace(CODE, group=None)
FIXED = replace(
    PERCENT,
    discount=None,
    amount_off=Decimal("5.00"),
    currency="EUR",
    min_amount=Decimal("50.00"),
    starts_at=datetime(2027, 6, 1, tzinfo=UTC),
    validity=datetime(2027, 8, 31, 23, 59, 59, tzinfo=UTC),
    max_uses=1000,
)


def test_a_percent_is_worded_with_the_validity_and_once_per_customer() -> None:
    assert describe_terms(PERCENT) == "15% off its products until 2027-05-31 23:59 UTC, once per customer."
    assert headline(PERCENT) == "15% off"


def test_a_fixed_amount_is_worded_with_its_minimum_start_and_total_uses() -> None:
    assert describe_terms(FIXED) == (
        "€5 off orders of €50 or more, from 2027-06-01 00:00 UTC until 2027-08-31 23:59 UTC,"
        " once per customer, while 1,000 last."
    )
    assert headline(FIXED) == "€5.00 off"
    assert describe_terms(replace(FIXED, max_uses=1)).endswith(", once per customer, while 1 lasts.")


def test_a_percent_minimum_without_a_currency_is_just_the_number() -> None:
    terms = describe_terms(replace(PERCENT, min_amount=Decimal("49.90")))
    assert terms == "15% off orders of 49.90 or more until 2027-05-31 23:59 UTC, once per customer."
    assert "orders of €50 or more" in describe_terms(replace(PERCENT, min_amount=Decimal(50), currency="EUR"))


def test_more_than_one_use_per_customer_is_worded_as_up_to() -> None:
    assert describe_terms(replace(PERCENT, max_uses_per_user=3)).endswith(", up to 3 times per customer.")
    assert describe_terms(replace(PERCENT, max_uses_per_user=1)).endswith(", once per customer.")
    assert describe_terms(replace(PERCENT, max_uses_per_user=2500)).endswith(", up to 2,500 times per customer.")


def test_a_budget_lasts_as_long_as_it_lasts() -> None:
    budget = replace(PERCENT, budget=Decimal("10000.00"), currency="USD")
    assert describe_terms(budget).endswith(", once per customer, while the budget lasts.")
    both = replace(FIXED, budget=Decimal("2000.00"), max_uses_per_user=2)
    assert describe_terms(both).endswith(", up to 2 times per customer, while 1,000 last and the budget lasts.")


def test_a_group_is_named() -> None:
    assert describe_terms(CODE) == (
        "15% off its products until 2027-05-31 23:59 UTC, once per customer. This offer is for wholesale customers."
    )


@pytest.mark.parametrize(
    ("amount", "currency", "whole", "text"),
    [
        ("5.00", "EUR", True, "€5"),
        ("5.00", "EUR", False, "€5.00"),
        ("5.5", "USD", True, "$5.50"),
        ("1234.5", "GBP", False, "£1,234.50"),
        ("123.45", "CHF", True, "123.45 CHF"),
        ("1000", "JPY", True, "1,000 JPY"),
        ("50", None, True, "50"),
        ("999999999999.99", "EUR", True, "€999,999,999,999.99"),
    ],
)
def test_amounts_are_written_for_people(amount: str, currency: str | None, whole: bool, text: str) -> None:
    assert format_amount(Decimal(amount), currency, whole=whole) == text


def test_an_announcement_states_the_terms(tmp_path: Path) -> None:
    code = replace(FIXED, brand_name="Acme & Co", group="vip", currency="CHF", amount_off=Decimal("7.50"))
    terms = describe_terms(code)
    assert terms.startswith("7.50 CHF off orders of 50 CHF or more, from ")
    for once in (True, False):
        with pytest.MonkeyPatch.context() as patched:
            if not once:
                patched.setattr(messages, "only_prints_recipient", lambda *_: False)
            announcement = renderer(tmp_path / str(once)).announcements(code)
        message = parse(announcement(Recipient("u1", "u1@example.com"), NOW).data)
        assert message["Subject"] == "7.50 CHF off at Acme & Co with code SPRING"
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
        assert f"Acme & Co gives you {terms}\n" in text
        assert "This offer is for vip customers." in text
        assert f"<p>Acme &amp; Co gives you {terms}</p>" in html
        assert "<title>7.50 CHF off at Acme &amp; Co</title>" in html


def test_a_digest_writes_a_percent_or_a_fixed_amount_with_its_currency(tmp_path: Path) -> None:
    def usage(user_id: str, discount: int | None, amount_off: str | None, currency: str | None) -> DiscountUsage:
        return DiscountUsage(
            code="SPRING",
            user_id=user_id,
            use=1,
            brand="acme",
            discount=discount,
            amount_off=None if amount_off is None else Decimal(amount_off),
            currency=currency,
            amount=Decimal("120.00"),
            discount_amount=Decimal("5.00"),
            amount_to_pay=Decimal("115.00"),
            used_at=NOW,
        )

    usages = [usage("u1", 10, None, None), usage("u2", None, "5.00", "EUR"), usage("u3", None, "5.00", "CHF")]
    message = parse(renderer(tmp_path).digest(1, "Acme", "acme@example.com", usages, NOW).data)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "by u1 at 2026-01-15 12:00 UTC: amount 120.00, discount 10% = 5.00, paid 115.00" in text
    assert "by u2 at 2026-01-15 12:00 UTC: amount 120.00, discount €5.00 = 5.00, paid 115.00" in text
    assert "discount 5.00 CHF = 5.00" in text
    assert '<td align="right">10%</td>' in html
    assert '<td align="right">€5.00</td>' in html
    assert '<td align="right">5.00 CHF</td>' in html
    assert "None" not in text + html
