"""Getting messages out: SMTP at scale, a Maildir in the data directory on the embedded default.

``DISCOUNTS_SMTP_URL`` is ``smtp://[user:pass@]host[:port][?starttls=true]`` or
``smtps://…`` (implicit TLS); ``cafile=/path`` trusts a private CA. A caller opens one
connection per batch (a chunk, a digest run) and sends through it, so a fan-out does not
pay a TCP and TLS handshake per message.

The SMTP client runs on the worker's event loop (no thread hop per message; ``smtplib``
needed one) and, where the server offers it in its EHLO reply, pipelines commands
(RFC 2920): a message's end of data goes out in one write with the next message's
``MAIL``, ``RCPT`` and ``DATA`` (``Connection.announce``), and once the server has answered
them the next message's text follows at once, without its final dot. So a message costs one
round trip (four with ``smtplib``), and the server reads the next text while the caller
records this one. Each message is still its own SMTP transaction, accepted only at its own
end of data: ``send`` returns once the server accepted it, the caller records the delivery,
and only the next ``send`` can have the next message accepted. A session closed with an
announced message pending ends without that dot, so the server drops it. A server that
does not offer ``PIPELINING`` is spoken to one command at a time.

Failures are sorted the way SMTP means them: a 4xx reply or a broken connection is
:class:`MailTemporaryError` (try again later), a 5xx reply about the recipient or the
message is :class:`MailRejected` (record it, never retry).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import mailbox
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from discounts.errors import MailError, MailRejected, MailTemporaryError
from discounts.notify.messages import Email
from discounts.settings import Settings

#: The longest a chunk waits for the mail server before treating it as unavailable.
MAX_SMTP_TIMEOUT = 30.0
CRLF = b"\r\n"
#: After the message's text (which ends with CRLF): the line with a single dot.
END_OF_DATA = b".\r\n"


class Mailer(Protocol):
    """An open connection to wherever messages go."""

    async def send(self, email: Email, following: Email | None = None) -> None: ...

    async def close(self) -> None: ...


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


@functools.cache
def local_hostname() -> bytes:
    """What we call ourselves in EHLO (as ``smtplib`` does), looked up once per process."""
    name = socket.getfqdn()
    return (name if name.isascii() and name else "localhost").encode()


class Refused(Exception):
    """A reply other than the one expected (internal: turned into a MailError by the caller)."""

    def __init__(self, code: int, text: bytes) -> None:
        self.code, self.text = code, text


def _by_code(code: int, detail: str) -> MailRejected | MailTemporaryError:
    return MailRejected(detail) if 500 <= code < 600 else MailTemporaryError(detail)


class SMTPMailer:
    """One SMTP session; ``send`` classifies every refusal as temporary or permanent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sender: str, timeout: float) -> None:
        self._reader, self._writer = reader, writer
        self._sender = sender.encode()
        self._timeout = timeout
        #: Extension keywords (upper case) and their parameters, from the last EHLO reply.
        self.extensions: dict[str, bytes] = {}
        #: A message whose envelope went out with the previous message's end of data, and its refusal if any
        #: (none: the server answered its DATA with 354 and waits for its text).
        self._ready: tuple[Email, MailError | None] | None = None
        self._abort_data = False

    @classmethod
    async def open(cls, target: SMTPTarget, seconds: float, sender: str) -> SMTPMailer:
        """A session ready to send (greeting, EHLO, STARTTLS, AUTH), each step within ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                tls = target.tls_context() if target.implicit_tls else None
                reader, writer = await asyncio.open_connection(
                    target.host, target.port, ssl=tls, server_hostname=target.host if tls else None
                )
                mailer = cls(reader, writer, sender, seconds)
                try:
                    await mailer._start(target)
                except BaseException:
                    writer.close()
                    raise
        except Refused as exc:
            raise MailTemporaryError(f"the mail server refused the session: {exc.code} {exc.text!r}") from exc
        except (OSError, EOFError, ValueError, TimeoutError, ssl.SSLError) as exc:
            raise MailTemporaryError(f"cannot reach the mail server {target.host}:{target.port}: {exc!r}") from exc
        return mailer

    async def _start(self, target: SMTPTarget) -> None:
        await self._expect(220)
        await self._ehlo()
        if target.starttls:
            if "STARTTLS" not in self.extensions:
                raise MailTemporaryError("the mail server does not offer STARTTLS")
            await self._command(b"STARTTLS", 220)
            await self._writer.start_tls(target.tls_context(), server_hostname=target.host)
            await self._ehlo()
        if target.username:
            await self._login(target.username, target.password or "")

    async def _ehlo(self) -> None:
        self._writer.write(b"EHLO " + local_hostname() + CRLF)
        code, text = await self._reply()
        if code != 250:
            await self._command(b"HELO " + local_hostname(), 250)  # not ESMTP: no extensions at all
            self.extensions = {}
            return
        features = {}
        for line in text.split(b"\n")[1:]:
            keyword, _, params = line.partition(b" ")
            features[keyword.decode("ascii", "replace").upper()] = params
        self.extensions = features

    async def _login(self, username: str, password: str) -> None:
        methods = self.extensions.get("AUTH", b"").upper().split()
        try:
            if b"PLAIN" in methods:
                plain = base64.b64encode(f"\0{username}\0{password}".encode())
                await self._command(b"AUTH PLAIN " + plain, 235)
            elif b"LOGIN" in methods:
                await self._command(b"AUTH LOGIN", 334)
                await self._command(base64.b64encode(username.encode()), 334)
                await self._command(base64.b64encode(password.encode()), 235)
            else:
                raise MailTemporaryError(f"the mail server offers no AUTH PLAIN or LOGIN: {methods!r}")
        except Refused as exc:
            # A wrong password is an operator's mistake that fixing the setting cures: keep retrying.
            raise MailTemporaryError(f"SMTP login refused: {exc.code} {exc.text!r}") from exc

    async def _reply(self) -> tuple[int, bytes]:
        """One reply, all its lines: (code, text lines joined by LF)."""
        lines = []
        while True:
            line = await self._reader.readuntil(b"\n")
            lines.append(line[4:].rstrip(b"\r\n"))
            if line[3:4] != b"-":
                return int(line[:3]), b"\n".join(lines)

    async def _expect(self, *codes: int) -> None:
        code, text = await self._reply()
        if code not in codes:
            raise Refused(code, text)

    async def _command(self, line: bytes, *codes: int) -> None:
        self._writer.write(line + CRLF)
        await self._expect(*codes)

    async def send(self, email: Email, following: Email | None = None) -> None:
        """Send ``email``; with ``following``, that message's envelope rides along with this one's end of data."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._transaction(email, following)
        except (OSError, EOFError, ValueError, TimeoutError, asyncio.LimitOverrunError) as exc:
            self._ready = None  # the session is broken: nothing is waiting for data any more
            raise MailTemporaryError(f"mail server connection failed: {exc!r}") from exc

    async def _transaction(self, email: Email, following: Email | None) -> None:
        ready, self._ready = self._ready, None
        text = b""  # what is left to write of this message's text before its end
        if ready is not None and ready[0] is email:
            if ready[1] is not None:
                raise ready[1]  # its envelope was refused, with the previous message's replies
        else:
            if ready is not None:  # a different message was announced: end that transaction unsent
                self._abort_data = True
                raise MailTemporaryError("the message announced for pipelining was not the one sent")
            envelope = self._envelope(email)
            if "PIPELINING" in self.extensions:
                self._writer.write(CRLF.join(envelope) + CRLF)
                replies = [await self._reply() for _ in envelope]
            else:
                replies = []
                for line in envelope:
                    self._writer.write(line + CRLF)
                    replies.append(await self._reply())
                    if replies[-1][0] >= 400:
                        break
            refused = await self._refusal(replies)
            if refused is not None:
                raise refused
            text = _text(email.data)
        # In DATA: the end of the text, and (pipelining, RFC 2920 3.1) the next message's envelope.
        ahead = None
        if following is not None and "PIPELINING" in self.extensions:
            with suppress(MailRejected):  # the following message's own send says so
                ahead = self._envelope(following)
        self._writer.write(text + END_OF_DATA + (CRLF.join(ahead) + CRLF if ahead else b""))
        code, reply = await self._reply()
        if ahead is not None:
            assert following is not None
            replies = [await self._reply() for _ in ahead]
            refused = await self._refusal(replies)
            if refused is None:
                # Its text goes now, without the final dot: the server reads it while we record this
                # message, and accepts it only when that dot is sent, by the next ``send``.
                self._writer.write(_text(following.data))
            self._ready = (following, refused)
        if code != 250:
            raise _by_code(code, f"message refused: {code} {reply!r}")

    def _envelope(self, email: Email) -> list[bytes]:
        """MAIL FROM, RCPT TO and DATA for ``email``; raises MailRejected if the server can never take it."""
        # An internationalized address needs SMTPUTF8 (RFC 6531); a server without it never takes it.
        if email.to.isascii():
            options = b""
        elif "SMTPUTF8" in self.extensions:
            options = b" SMTPUTF8"
        else:
            raise MailRejected("the mail server does not take internationalized addresses (no SMTPUTF8)")
        if "SIZE" in self.extensions:
            options = b" SIZE=%d" % len(email.data) + options
        return [b"MAIL FROM:<" + self._sender + b">" + options, b"RCPT TO:<" + email.to.encode() + b">", b"DATA"]

    async def _refusal(self, replies: list[tuple[int, bytes]]) -> MailError | None:
        """What the envelope's replies refuse, if anything; after a refusal the session is reset for the next one."""
        (mail, mail_text), *rest = replies
        if mail >= 400:
            # The sender address is ours: a 5xx here says nothing about this recipient.
            error: MailError = MailTemporaryError(f"sender refused: {mail} {mail_text!r}")
        elif rest[0][0] >= 400:
            error = _by_code(rest[0][0], f"recipient refused: {rest[0][0]} {rest[0][1]!r}")
        elif rest[1][0] != 354:
            error = _by_code(rest[1][0], f"message refused: {rest[1][0]} {rest[1][1]!r}")
        else:
            return None
        if len(replies) == 3 and replies[2][0] == 354:  # DATA accepted all the same: end it empty
            self._writer.write(b"." + CRLF)
            await self._reply()
        self._writer.write(b"RSET" + CRLF)
        await self._reply()
        return error

    async def close(self) -> None:
        in_data = self._abort_data or (self._ready is not None and self._ready[1] is None)
        try:
            if not in_data:  # a QUIT now would be read as the announced message's text
                async with asyncio.timeout(min(self._timeout, 5.0)):
                    self._writer.write(b"QUIT" + CRLF)
                    await self._reply()
        except (OSError, EOFError, ValueError, TimeoutError, asyncio.LimitOverrunError):
            pass  # leaving anyway: a server that does not say goodbye changes nothing
        finally:
            # Closing in the middle of DATA ends the session without the final dot: the server drops that message.
            self._writer.close()
            with suppress(OSError, ssl.SSLError):
                await self._writer.wait_closed()


def _text(data: bytes) -> bytes:
    """The message as DATA sends it, up to the end marker: lines starting with a dot doubled (RFC 5321 4.5.2)."""
    body = data.replace(b"\r\n.", b"\r\n..")
    if body.startswith(b"."):
        body = b"." + body
    return body if body.endswith(CRLF) else body + CRLF


class MaildirMailer:
    """Messages as files in a Maildir that any mail client reads (the embedded default)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(path, create=True)

    @classmethod
    async def open(cls, path: Path) -> MaildirMailer:
        return await asyncio.to_thread(cls, path)

    async def send(self, email: Email, following: Email | None = None) -> None:
        try:
            # Maildir files end lines with LF; written in a thread, so the loop never waits for the disk.
            await asyncio.to_thread(self._box.add, email.data.replace(b"\r\n", b"\n"))
        except OSError as exc:
            raise MailTemporaryError(f"cannot write to the maildir: {exc}") from exc

    async def close(self) -> None:
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

    async def _open(self) -> Mailer:
        if self._target is None:
            return await MaildirMailer.open(self._maildir)
        return await SMTPMailer.open(self._target, self._timeout, parseaddr(self.sender)[1])

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
        self._following: Email | None = None

    def announce(self, following: Email | None) -> None:
        """The message the next ``send`` is followed by: where the server pipelines, its envelope goes out early.

        It is only announced: the server accepts it when it is sent, never before, so a
        caller still records each message before the next one can be accepted.
        """
        self._following = following

    async def send(self, email: Email) -> None:
        following, self._following = self._following, None
        if self._mailer is None:
            self._mailer = await self._transport._open()
        try:
            await self._mailer.send(email, following)
        except MailTemporaryError:
            # The session may be half-broken; the next message (or retry) starts a fresh one.
            await self.close()
            raise

    async def close(self) -> None:
        mailer, self._mailer = self._mailer, None
        if mailer is not None:
            await mailer.close()
