"""Retries below the generated code, as an httpx transport: the very request is sent again.

Resending the same ``httpx.Request`` keeps every header, so an ``Idempotency-Key`` is reused on
each retry and the service replays its first answer instead of acting twice. What is retried:

- a 503 (``unavailable``: the service says nothing was recorded) and a 429 (``rate_limited``), after
  the ``Retry-After`` they carry, when it fits in what is left of the time budget; a longer one is
  raised at once (``RateLimited.retry_after``) — the guessing limit blocks a caller for up to a
  window, and a checkout should not hang on it unseen;
- a connection that could not be made (nothing was sent): any request;
- a timeout or a connection dropped after the request went out (the answer is lost, the request
  may have been applied): only a request that may be replayed — GET, HEAD, OPTIONS, PUT and
  DELETE, or one with an ``Idempotency-Key``.

Between attempts the wait grows exponentially with full jitter (so clients that failed together
do not come back together), never shorter than ``Retry-After``; ``attempts`` and
``total_seconds`` bound the whole.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRIED_STATUSES = frozenset({429, 503})
#: Raised before anything reached the service: always safe to try again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    """Attempts in all, the first included."""
    total_seconds: float = 20.0
    """No retry starts later than this after the first attempt."""
    backoff_seconds: float = 0.2
    """The first wait's ceiling; it doubles with each attempt, up to ``max_backoff_seconds``."""
    max_backoff_seconds: float = 5.0
    random: Callable[[], float] = field(default=random.random, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def backoff(self, retry: int) -> float:
        """Full jitter: anywhere between 0 and the exponential ceiling of this retry (1, 2, …)."""
        return self.random() * min(self.max_backoff_seconds, self.backoff_seconds * 2.0 ** (retry - 1))


NO_RETRIES = RetryPolicy(attempts=1)


def retry_after(headers: httpx.Headers, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` in seconds, from either of its forms (seconds, or an HTTP date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError):
        return None


def replayable(request: httpx.Request) -> bool:
    return request.method in REPLAYABLE_METHODS or "idempotency-key" in request.headers


class Attempts:
    """One request's retries: after each failure, how long to wait before the next attempt, or ``None``."""

    def __init__(self, policy: RetryPolicy, request: httpx.Request) -> None:
        self.policy, self.request = policy, request
        self.made = 1
        self.deadline = policy.clock() + policy.total_seconds

    def after_response(self, response: httpx.Response) -> float | None:
        if response.status_code not in RETRIED_STATUSES:
            return None
        return self._next(retry_after(response.headers))

    def after_error(self, error: httpx.TransportError) -> float | None:
        if not isinstance(error, NOT_SENT) and not replayable(self.request):
            return None
        return self._next(None)

    def _next(self, at_least: float | None) -> float | None:
        if self.made >= self.policy.attempts:
            return None
        wait = max(at_least or 0.0, self.policy.backoff(self.made))
        if self.policy.clock() + wait > self.deadline:
            return None
        self.made += 1
        return wait


class RetryingTransport(httpx.BaseTransport):
    def __init__(self, policy: RetryPolicy, inner: httpx.BaseTransport | None = None) -> None:
        self.policy, self.inner = policy, inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempts = Attempts(self.policy, request)
        while True:
            try:
                response = self.inner.handle_request(request)
            except httpx.TransportError as error:
                wait = attempts.after_error(error)
                if wait is None:
                    raise
            else:
                wait = attempts.after_response(response)
                if wait is None:
                    return response
                response.close()
            time.sleep(wait)

    def close(self) -> None:
        self.inner.close()


class AsyncRetryingTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: RetryPolicy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy, self.inner = policy, inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempts = Attempts(self.policy, request)
        while True:
            try:
                response = await self.inner.handle_async_request(request)
            except httpx.TransportError as error:
                wait = attempts.after_error(error)
                if wait is None:
                    raise
            else:
                wait = attempts.after_response(response)
                if wait is None:
                    return response
                await response.aclose()
            await asyncio.sleep(wait)

    async def aclose(self) -> None:
        await self.inner.aclose()
