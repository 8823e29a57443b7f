"""The ``Idempotency-Key`` header on the operations that take it, as a plain ASGI layer.

It sits outside the checkout's hot routes and FastAPI alike, so a replay is the very bytes
of the first answer whoever served it. Without the header it costs one look at the headers.
Requests whose token is not valid pass through untouched: a key is scoped to a principal,
and they get their 401 anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from discounts.api import problems
from discounts.api.deps import raw_header
from discounts.errors import UNREACHABLE, DiscountsError, Unauthenticated
from discounts.idempotency import Answer
from discounts.runtime import Runtime

log = logging.getLogger(__name__)

#: The operations that accept a key (with the trailing slash; the path without it too).
PATHS = frozenset(
    {"/api/v1/discountcodeusage/", "/api/v1/discountcode/", "/api/v1/discountcodebatch/", "/api/v1/cartredemption/"}
)
#: ... and the confirms of a usage and of a cart, ``/api/v1/discountcodeusage/{id}/confirm/``.
CONFIRMS = ("/api/v1/discountcodeusage/", "/api/v1/cartredemption/")
#: Where a keyed request finds its nonce in the ASGI scope: the same for every retry of it (same key,
#: same body), so that what it claimed in the store recognises it (a cart's id is its nonce).
NONCE = "discounts.nonce"
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
        takes_key = path in PATHS or (path.startswith(CONFIRMS) and path.endswith("/confirm/"))
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
        try:
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
        except HTTPException as exc:  # the body limit's 413, raised while the body streams in
            await (await problems.http_error(Request(scope), exc))(scope, receive, send)
            return
        idempotency = runtime.idempotency
        fingerprint = idempotency.fingerprint("POST", path, bytes(body))
        owner, token = f"{principal.role.value}:{principal.sub}", idempotency.new_token()
        try:
            begun = await idempotency.begin(owner, key, fingerprint, token)
        except DiscountsError as refused:
            await (await problems.domain_error(Request(scope), refused))(scope, receive, send)
            return
        except UNREACHABLE as exc:
            # The store may have taken the lease and gone before answering: free it once it is
            # back, or every retry would be 409 in flight until the lease ran out.
            _finish_later(runtime, (idempotency.storage_key(owner, key), token), fingerprint, None)
            await (await problems.unavailable(Request(scope), exc))(scope, receive, send)
            return
        except Exception as exc:  # noqa: BLE001 - logged with its traceback, answered as a 500 problem
            await (await problems.unexpected(Request(scope), exc))(scope, receive, send)
            return
        if isinstance(begun, Answer):
            await replay(begun, send)
            return
        scope[NONCE] = hashlib.sha256(f"{begun[0]}\x00{fingerprint}".encode()).hexdigest()[:32]
        await self._run_and_keep(scope, bytes(body), send, runtime, begun, fingerprint)

    async def _run_and_keep(
        self, scope: Scope, body: bytes, send: Send, runtime: Runtime, owned: tuple[str, str], fingerprint: str
    ) -> None:
        """Run the request with its body replayed; hold the answer back until it is kept for retries."""
        path = scope["path"]
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
        if not await _finish(runtime, owned, fingerprint, answer) and answer.status < 500:
            # Sent now, the answer could be lost with a failing Redis (or one failing over) and a
            # retry find the request done but no answer: it gets the answer once it is kept.
            await problems.problem(503, "unavailable", "Service unavailable", UNKEPT, headers=RETRY, instance=path)(
                scope, receive_body, send
            )
            return
        await send(start)
        await send({"type": "http.response.body", "body": answer.body})


#: What a request whose answer could not be kept is told instead (the answer is kept once the store is back).
UNKEPT = (
    "the answer to this request could not be stored for its retries yet;"
    " send the request again with the same Idempotency-Key to receive it"
)
RETRY = {"Retry-After": str(problems.RETRY_UNAVAILABLE_SECONDS)}
#: Records that could not be written when their request ended, written again while their lease lasts.
_unfinished: set[asyncio.Task[None]] = set()
#: Seconds between those tries: a restarted Redis is back within a few.
FINISH_RETRY_SECONDS = 0.5


async def _finish(runtime: Runtime, owned: tuple[str, str], fingerprint: str, answer: Answer | None) -> bool:
    """Keep the answer; False if the store was unreachable (or, with replicas asked for, none confirmed it).

    The record is then written once the store is back, while the lease lasts: until then a
    retry finds the key in flight (409), after it the retry gets the first answer, or runs
    afresh when the request had failed — rather than waiting out the lease.
    """
    try:
        await runtime.idempotency.finish(owned, fingerprint, answer)
    except UNREACHABLE as exc:
        log.warning("could not keep the answer of an Idempotency-Key request (%r); trying again", exc)
        _finish_later(runtime, owned, fingerprint, answer)
        return False
    except Exception:
        log.warning("could not keep the answer of an Idempotency-Key request", exc_info=True)
    return True


def _finish_later(runtime: Runtime, owned: tuple[str, str], fingerprint: str, answer: Answer | None) -> None:
    task = asyncio.create_task(_finish_when_back(runtime, owned, fingerprint, answer))
    _unfinished.add(task)
    task.add_done_callback(_unfinished.discard)


async def _finish_when_back(runtime: Runtime, owned: tuple[str, str], fingerprint: str, answer: Answer | None) -> None:
    deadline = time.monotonic() + runtime.idempotency.lease_seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(FINISH_RETRY_SECONDS)
        try:
            await runtime.idempotency.finish(owned, fingerprint, answer)
        except UNREACHABLE:
            continue
        except Exception:
            log.warning("could not keep the answer of an Idempotency-Key request", exc_info=True)
            return
        log.info("settled an Idempotency-Key record once its store was back")
        return


async def replay(answer: Answer, send: Send) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
