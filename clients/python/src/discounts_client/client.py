"""The two clients: ``Discounts`` (sync) and ``AsyncDiscounts`` (asyncio), over the generated code.

Each owns one httpx client — a connection pool, the bearer token on every request, the retrying
transport (retry.py) — lent to the generated ``AuthenticatedClient``; ``send(operation)`` runs an
operation (ops.py) and returns its typed result or raises the typed problem (errors.py).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from discounts_client.errors import NetworkError, Timeout, TransportError, problem_error
from discounts_client.generated.client import AuthenticatedClient
from discounts_client.generated.types import Response
from discounts_client.ops import Operation
from discounts_client.retry import AsyncRetryingTransport, RetryingTransport, RetryPolicy, retry_after

T = TypeVar("T")

#: A token, or a function that returns a current one (called for each request: cache it there).
Token = str | Callable[[], str]
AsyncToken = Token | Callable[[], Awaitable[str]]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class BearerToken(httpx.Auth):
    def __init__(self, token: AsyncToken) -> None:
        self.token = token

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.token() if callable(self.token) else self.token
        if not isinstance(token, str):
            raise TypeError("the sync client needs a token provider that returns a str, not an awaitable")
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self.token() if callable(self.token) else self.token
        if inspect.isawaitable(token):
            token = await token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def result(operation: Operation[T], response: Response[Any]) -> T:
    """The operation's result for a 2xx; the problem it answered, as its exception, for anything else."""
    status = int(response.status_code)
    if 200 <= status < 300:
        return operation.result(response.parsed)
    raise problem_error(status, _body(response.content), retry_after(httpx.Headers(response.headers)))


def _body(content: bytes) -> dict[str, Any]:
    try:
        body = json.loads(content)
    except ValueError:
        return {"detail": content[:500].decode("utf-8", "replace")}
    return body if isinstance(body, dict) else {"detail": repr(body)[:500]}


def _transport_error(error: httpx.TransportError) -> TransportError:
    cls = Timeout if isinstance(error, httpx.TimeoutException) else NetworkError
    return cls(f"{type(error).__name__}: {error}")


class Discounts:
    """The service's API, synchronously: ``with Discounts(url, token=...) as api: api.send(ops.redeem(...))``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: Token,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            auth=BearerToken(token),
            timeout=timeout,
            headers=headers,
            transport=RetryingTransport(retry or RetryPolicy(), transport),
        )
        self.generated = AuthenticatedClient(base_url=base_url, token="").set_httpx_client(self.http)

    def send(self, operation: Operation[T]) -> T:
        try:
            response = operation.endpoint.sync_detailed(client=self.generated, **operation.kwargs)
        except httpx.TransportError as error:
            raise _transport_error(error) from error
        return result(operation, response)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncDiscounts:
    """The service's API for asyncio: ``async with AsyncDiscounts(url, token=...) as api: await api.send(...)``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: AsyncToken,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            auth=BearerToken(token),
            timeout=timeout,
            headers=headers,
            transport=AsyncRetryingTransport(retry or RetryPolicy(), transport),
        )
        self.generated = AuthenticatedClient(base_url=base_url, token="").set_async_httpx_client(self.http)

    async def send(self, operation: Operation[T]) -> T:
        try:
            response = await operation.endpoint.asyncio_detailed(client=self.generated, **operation.kwargs)
        except httpx.TransportError as error:
            raise _transport_error(error) from error
        return result(operation, response)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
