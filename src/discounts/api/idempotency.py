"""The ``Idempotency-Key`` header on the operations that take it, as a plain ASGI layer.

It sits outside the checkout's hot routes and FastAPI alike, so a replay is the very bytes
of the first answer whoever served it. Without the header it costs one look at the headers.
Requests whose token is not valid pass through untouched: a key is scoped to a principal,
and they get their 401 anyway.
"""

from __future__ import annotations

import logging
import re

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from discounts.api import problems
from discounts.api.deps import raw_header
from discounts.errors import DiscountsError, Unauthenticated
from discounts.idempotency import Answer
from discounts.runtime import Runtime

log = logging.getLogger(__name__)

#: The operations that accept a key (with the trailing slash; the path without it too).
PATHS = frozenset({"/api/v1/discountcodeusage/", "/api/v1/discountcode/", "/api/v1/discountcodebatch/"})
#: ... and a usage's confirm, ``/api/v1/discountcodeusage/{id}/confirm/``.
USAGES = "/api/v1/discountcodeusage/"
#: 1 to 255 printable ASCII characters; none at either end is a space, which HTTP would strip.
KEY_PATTERN = r"^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$"
VALID_KEY = re.compile(KEY_PATTERN)
#: The headers of an answer that a replay repeats (the rest, such as the request id, are the retry's own).
KEPT_HEADERS = frozenset({"content-type", "location", "retry-after", "www-authenticate"})

#: OpenAPI of the header, for the operations that take it.
HEADER_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Retry safely: the same key with the same body replays the first answer (with"
        " `Idempotent-Replayed: true`); with another body → 422 `idempotency_key_reused`; while"
        " the first request runs → 409 `idempotency_in_progress`. Scoped to the token's subject,"
        " kept at least 24 hours."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
}


class Idempotent:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"].endswith("/") else scope["path"] + "/"
        takes_key = path in PATHS or (path.startswith(USAGES) and path.endswith("/confirm/"))
        key = raw_header(scope, b"idempotency-key") if takes_key else None
        if key is None:
            await self.app(scope, receive, send)
            return
        if not VALID_KEY.fullmatch(key):
            detail = "Idempotency-Key must be 1 to 255 printable ASCII characters"
            errors = [{"loc": ["header", "Idempotency-Key"], "msg": detail, "type": "value_error"}]
            await problems.problem(422, "validation_error", "Invalid request", detail, errors=errors)(
                scope, receive, send
            )
            return
        runtime: Runtime = scope["app"].state.runtime
        authorization = raw_header(scope, b"authorization") or ""
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise Unauthenticated()
            principal = runtime.verifier.verify(token.strip())
        except Unauthenticated:
            await self.app(scope, receive, send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        fingerprint = runtime.idempotency.fingerprint("POST", path, bytes(body))
        try:
            begun = await runtime.idempotency.begin(f"{principal.role.value}:{principal.sub}", key, fingerprint)
        except DiscountsError as refused:
            await (await problems.domain_error(Request(scope), refused))(scope, receive, send)
            return
        except problems.UNAVAILABLE as exc:
            await (await problems.unavailable(Request(scope), exc))(scope, receive, send)
            return
        if isinstance(begun, Answer):
            await replay(begun, send)
            return
        await self._run_and_keep(scope, bytes(body), send, runtime, begun, fingerprint)

    async def _run_and_keep(
        self, scope: Scope, body: bytes, send: Send, runtime: Runtime, owned: tuple[str, str], fingerprint: str
    ) -> None:
        """Run the request with its body replayed; hold the answer back until it is kept for retries."""
        sent = False

        async def receive_body() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive_body, capture)
        except BaseException:
            await _finish(runtime, owned, fingerprint, None)
            raise
        assert start is not None  # the stack inside answers every request, errors included
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start.get("headers", [])]
        kept = [(name, value) for name, value in headers if name.lower() in KEPT_HEADERS]
        answer = Answer(start["status"], kept, b"".join(chunks))
        await _finish(runtime, owned, fingerprint, answer)
        await send(start)
        await send({"type": "http.response.body", "body": answer.body})


async def _finish(runtime: Runtime, owned: tuple[str, str], fingerprint: str, answer: Answer | None) -> None:
    """Keep the answer; if that fails the answer still goes out (what it says happened did happen).

    A retry then finds the key in flight until its lease ends, then runs again.
    """
    try:
        await runtime.idempotency.finish(owned, fingerprint, answer)
    except Exception:
        log.warning("could not keep the answer of an Idempotency-Key request", exc_info=True)


async def replay(answer: Answer, send: Send) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
