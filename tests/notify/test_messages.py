"""Announcements are assembled as bytes, not with ``email.mime``: any MIME parser must read back what was rendered."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from jinja2 import Environment

from discounts.notify import messages
from discounts.notify.messages import CodeFacts, MessageRenderer, Recipient
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings
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
    assert f"{CODE.brand_name} gives you 15% off its products with the code\n\n    SPRING\n" in text
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
            patched.setattr(messages, "only_prints_recipient", lambda ast: False)
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
