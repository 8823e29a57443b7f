"""The SMTP client on its own: pipelining where offered, TLS both ways, login, and how refusals are sorted."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.errors import MailRejected, MailTemporaryError
from discounts.notify.context import Notifier
from discounts.notify.mail import MailTransport, SMTPMailer, SMTPTarget
from discounts.notify.messages import Email
from discounts.notify.models import Delivery
from discounts.settings import Settings
from tests.conftest import FakeClock
from tests.notify.conftest import add_brand, add_users, new_code, run_fanout, user_rows
from tests.notify.sink import PipeliningSink, SMTPSink

#: For the tests that take the settings: the database is not their subject.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def email(to: str, body: str = "Hello") -> Email:
    data = f"From: a@discounts.test\r\nTo: {to}\r\nSubject: hi\r\n\r\n{body}\r\n".encode()
    return Email(to=to, data=data)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, key), the certificate doubling as the CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def only(login: bytes, password: bytes) -> Any:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (login, password)
        return AuthResult(success=ok, handled=False)

    return authenticator


@pytest.fixture
def pipelining_sink() -> Iterator[SMTPSink]:
    sink = PipeliningSink(enable_SMTPUTF8=True).start()
    yield sink
    sink.stop()


async def test_a_server_offering_pipelining_gets_each_message_in_one_write_and_refusals_keep_their_meaning(
    pipelining_sink: SMTPSink,
) -> None:
    pipelining_sink.permanent.add("gone@example.com")
    pipelining_sink.temporary["busy@example.com"] = 1
    mailer = await SMTPMailer.open(SMTPTarget.parse(pipelining_sink.url), 10, "no-reply@discounts.test")
    try:
        assert "PIPELINING" in mailer.extensions
        await mailer.send(email("a@example.com"))
        with pytest.raises(MailRejected, match="550"):
            await mailer.send(email("gone@example.com"))
        await mailer.send(email("jörg@exämple.com"))  # SMTPUTF8, offered
        await mailer.send(email("b@example.com", ".a line that starts with a dot\r\n."))  # the session goes on
        with pytest.raises(MailTemporaryError, match="451"):
            await mailer.send(email("busy@example.com"))
        await mailer.send(email("busy@example.com"))
    finally:
        await mailer.close()
    assert [rcpt for rcpt, _ in pipelining_sink.raw] == [
        "a@example.com",
        "jörg@exämple.com",
        "b@example.com",
        "busy@example.com",
    ]
    dotted = pipelining_sink.raw[2][1]
    assert dotted.endswith(b"\r\n.a line that starts with a dot\r\n.\r\n")  # un-stuffed again by the server


async def test_without_pipelining_or_smtputf8_the_client_goes_one_command_at_a_time() -> None:
    sink = SMTPSink(enable_SMTPUTF8=False).start()
    try:
        sink.permanent.add("gone@example.com")
        mailer = await SMTPMailer.open(SMTPTarget.parse(sink.url), 10, "no-reply@discounts.test")
        try:
            assert "PIPELINING" not in mailer.extensions
            with pytest.raises(MailRejected, match="internationalized"):
                await mailer.send(email("jörg@exämple.com"))
            with pytest.raises(MailRejected, match="550"):
                await mailer.send(email("gone@example.com"))
            await mailer.send(email("a@example.com"))
        finally:
            await mailer.close()
    finally:
        sink.stop()
    assert sink.per_recipient() == {"a@example.com": 1}


async def test_starttls_and_login_and_a_wrong_password_is_temporary(certificate: tuple[Path, Path]) -> None:
    sink = SMTPSink(
        tls_context=server_tls(certificate),
        require_starttls=True,
        auth_require_tls=True,
        authenticator=only(b"mailer", b"s3cret"),
        auth_required=True,
    ).start()
    base = f"127.0.0.1:{sink.port}?starttls=true&cafile={certificate[0]}"
    try:
        mailer = await SMTPMailer.open(SMTPTarget.parse(f"smtp://mailer:s3cret@{base}"), 10, "a@discounts.test")
        try:
            await mailer.send(email("a@example.com"))
        finally:
            await mailer.close()
        with pytest.raises(MailTemporaryError, match="login refused"):
            await SMTPMailer.open(SMTPTarget.parse(f"smtp://mailer:wrong@{base}"), 10, "a@discounts.test")
        untrusted = f"smtp://mailer:s3cret@127.0.0.1:{sink.port}?starttls=true"  # the system CAs do not know it
        with pytest.raises(MailTemporaryError, match="cannot reach"):
            await SMTPMailer.open(SMTPTarget.parse(untrusted), 10, "a@discounts.test")
    finally:
        sink.stop()
    assert sink.per_recipient() == {"a@example.com": 1}


@SQLITE_ONLY
async def test_implicit_tls(certificate: tuple[Path, Path], settings: Settings) -> None:
    sink = SMTPSink(ssl_context=server_tls(certificate)).start()
    try:
        url = f"smtps://127.0.0.1:{sink.port}?cafile={certificate[0]}"
        transport = MailTransport(settings.model_copy(update={"smtp_url": url}))
        async with transport.connect() as connection:
            await connection.send(email("a@example.com"))
            await connection.send(email("b@example.com"))
    finally:
        sink.stop()
    assert sink.per_recipient() == {"a@example.com": 1, "b@example.com": 1}


@SQLITE_ONLY
async def test_nothing_listening_is_temporary(settings: Settings) -> None:
    sink = SMTPSink()  # a free port, never started
    transport = MailTransport(settings.model_copy(update={"smtp_url": sink.url}))
    async with transport.connect() as connection:
        with pytest.raises(MailTemporaryError, match="cannot reach"):
            await connection.send(email("a@example.com"))


async def test_an_announced_message_is_accepted_only_when_it_is_sent(pipelining_sink: SMTPSink) -> None:
    """Its envelope and text ride with the previous message; the server takes it only at its own end of data."""
    pipelining_sink.permanent.add("gone@example.com")
    pipelining_sink.temporary["busy@example.com"] = 1
    queue = [email(f"{name}@example.com") for name in ("a", "gone", "b", "c", "busy", "d")]
    outcomes: list[str] = []
    mailer = await SMTPMailer.open(SMTPTarget.parse(pipelining_sink.url), 10, "no-reply@discounts.test")
    try:
        for n, message in enumerate(queue[:-1]):
            try:
                await mailer.send(message, queue[n + 1])
                outcomes.append("sent")
            except MailRejected:
                outcomes.append("rejected")
            except MailTemporaryError:
                outcomes.append("temporary")
                break
            assert pipelining_sink.count() == outcomes.count("sent")  # nothing announced was taken yet
    finally:
        await mailer.close()
    assert outcomes == ["sent", "rejected", "sent", "sent", "temporary"]
    assert [rcpt for rcpt, _ in pipelining_sink.raw] == ["a@example.com", "b@example.com", "c@example.com"]

    mailer = await SMTPMailer.open(SMTPTarget.parse(pipelining_sink.url), 10, "no-reply@discounts.test")
    await mailer.send(email("e@example.com"), email("never@example.com"))  # its text is with the server...
    await mailer.close()  # ...but without its end: dropped, and closing does not wait for a QUIT reply
    assert pipelining_sink.per_recipient()["never@example.com"] == 0
    assert pipelining_sink.count() == 4


async def test_a_fanout_through_a_pipelining_server_reaches_everyone_once(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], pipelining_sink: SMTPSink, clock: FakeClock
) -> None:
    pipelining_sink.permanent.add("u0000007@example.com")
    pipelining = Notifier.build(notifier.settings.model_copy(update={"smtp_url": pipelining_sink.url}), sessions)
    await add_brand(sessions)
    await add_users(sessions, user_rows(130))
    code = await new_code(sessions, clock, "PIPED")
    await run_fanout(pipelining, code, clock)
    assert pipelining_sink.per_recipient() == {f"u{n:07d}@example.com": 1 for n in range(130) if n != 7}
    async with sessions() as session:
        refused = await session.get_one(Delivery, (code, "u0000007"))
    assert refused.status == "failed"
