"""Getting messages out: SMTP at scale, a Maildir in the data directory on the embedded default.

``DISCOUNTS_SMTP_URL`` is ``smtp://[user:pass@]host[:port][?starttls=true]`` or
``smtps://…`` (implicit TLS); ``cafile=/path`` trusts a private CA. A caller opens one
connection per batch (a chunk, a digest run) and sends through it, so a fan-out does not
pay a TCP and TLS handshake per message.

Failures are sorted the way SMTP means them: a 4xx reply or a broken connection is
:class:`MailTemporaryError` (try again later), a 5xx reply about the recipient or the
message is :class:`MailRejected` (record it, never retry).
"""

from __future__ import annotations

import asyncio
import mailbox
import smtplib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from discounts.errors import MailRejected, MailTemporaryError
from discounts.notify.messages import Email
from discounts.settings import Settings

#: The longest a chunk waits for the mail server before treating it as unavailable.
MAX_SMTP_TIMEOUT = 30.0


class Mailer(Protocol):
    """An open connection to wherever messages go."""

    def send(self, email: Email) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SMTPTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    cafile: str | None

    @classmethod
    def parse(cls, url: str) -> SMTPTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("DISCOUNTS_SMTP_URL must look like smtp://[user:pass@]host[:port] or smtps://…")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        implicit_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            implicit_tls=implicit_tls,
            starttls=query.get("starttls", "false").lower() in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            cafile=query.get("cafile"),
        )

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)


class SMTPMailer:
    """One SMTP session; ``send`` classifies every refusal as temporary or permanent."""

    def __init__(self, target: SMTPTarget, timeout: float, sender: str) -> None:
        self._sender = sender
        try:
            if target.implicit_tls:
                self._smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    target.host, target.port, timeout=timeout, context=target.tls_context()
                )
            else:
                self._smtp = smtplib.SMTP(target.host, target.port, timeout=timeout)
                if target.starttls:
                    self._smtp.starttls(context=target.tls_context())
            if target.username:
                self._smtp.login(target.username, target.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            # A wrong password is an operator's mistake that fixing the setting cures: keep retrying.
            raise MailTemporaryError(f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailTemporaryError(f"cannot reach the mail server {target.host}:{target.port}: {exc}") from exc

    def send(self, email: Email) -> None:
        # An internationalized address needs SMTPUTF8 (RFC 6531); a server without it never takes it.
        options = () if email.to.isascii() else ("SMTPUTF8",)
        try:
            refused = self._smtp.sendmail(self._sender, [email.to], email.data, mail_options=options)
        except smtplib.SMTPNotSupportedError as exc:
            raise MailRejected(f"the mail server does not take internationalized addresses: {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _by_code(code, f"recipient refused: {code} {reply!r}") from exc
        except smtplib.SMTPSenderRefused as exc:
            # The sender address is ours: a 5xx here says nothing about this recipient.
            raise MailTemporaryError(f"sender refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"message refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailTemporaryError(f"mail server connection failed: {exc}") from exc
        if refused:
            code, reply = next(iter(refused.values()))
            raise _by_code(code, f"recipient refused: {code} {reply!r}")

    def close(self) -> None:
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()


def _by_code(code: int, detail: str) -> MailRejected | MailTemporaryError:
    return MailRejected(detail) if 500 <= code < 600 else MailTemporaryError(detail)


class MaildirMailer:
    """Messages as files in a Maildir that any mail client reads (the embedded default)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(path, create=True)

    def send(self, email: Email) -> None:
        try:
            self._box.add(email.data.replace(b"\r\n", b"\n"))  # Maildir files end lines with LF
        except OSError as exc:
            raise MailTemporaryError(f"cannot write to the maildir: {exc}") from exc

    def close(self) -> None:
        self._box.close()


class MailTransport:
    """Opens connections to the configured destination; async, so a worker's loop never blocks on I/O."""

    def __init__(self, settings: Settings) -> None:
        self.sender = settings.mail_from
        self._maildir = settings.maildir
        self._target = SMTPTarget.parse(settings.smtp_url) if settings.smtp_url else None
        # Shorter than a third of a lease: a chunk stuck on a dead server loses no lease mid-message.
        self._timeout = min(MAX_SMTP_TIMEOUT, settings.fanout_lease_seconds / 3)

    @property
    def sender_domain(self) -> str:
        address = parseaddr(self.sender)[1]
        return address.rpartition("@")[2] or "discounts.localhost"

    def _open(self) -> Mailer:
        if self._target is None:
            return MaildirMailer(self._maildir)
        return SMTPMailer(self._target, self._timeout, parseaddr(self.sender)[1])

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        """A connection, opened on the first message (a batch with nothing to send opens none)."""
        connection = Connection(self)
        try:
            yield connection
        finally:
            await connection.close()


class Connection:
    def __init__(self, transport: MailTransport) -> None:
        self._transport = transport
        self._mailer: Mailer | None = None

    async def send(self, email: Email) -> None:
        if self._mailer is None:
            self._mailer = await asyncio.to_thread(self._transport._open)
        try:
            await asyncio.to_thread(self._mailer.send, email)
        except MailTemporaryError:
            # The session may be half-broken; the next message (or retry) starts a fresh one.
            await self.close()
            raise

    async def close(self) -> None:
        mailer, self._mailer = self._mailer, None
        if mailer is not None:
            await asyncio.to_thread(mailer.close)
