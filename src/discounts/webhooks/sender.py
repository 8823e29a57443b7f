"""One signed POST to one endpoint, within 10 seconds, to an address checked as it connects.

aiohttp, not httpx: a delivery is one small POST, and httpx's layers (httpcore, anyio) cost
~0.5 ms of CPU each — one core sent 2,000 a second to a local receiver, aiohttp 14,400
(benchmarks/README.md, "Webhooks") — which made the deliverer, not the receiver, the limit
of a flash sale's webhooks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from discounts.webhooks import addresses

#: A delivery is a 2xx within this long — resolving the name, connecting, sending and the status line.
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def new_client() -> aiohttp.ClientSession:
    """No redirects followed (per request), no proxy or settings from the environment, no cookies kept.

    Made inside a running event loop (aiohttp binds the session to it).
    """
    return aiohttp.ClientSession(
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
        connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0, use_dns_cache=False),
        skip_auto_headers=("User-Agent",),
        headers={"User-Agent": "discounts-webhooks"},
    )


def _to_address(url: str, address: str) -> tuple[str, str, str]:
    """The URL with its host replaced by ``address``, and the Host header and TLS name to send."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc)), host_header, host


def _failure(exc: aiohttp.ClientError) -> str:
    """What went wrong, in words that do not depend on the HTTP library."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate refused: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect: {exc.os_error.strerror or exc.os_error.__class__.__name__}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the connection closed before an answer"
    return f"{exc.__class__.__name__}: {exc}"


async def post(
    client: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], *, allow_private: bool
) -> Answer:
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            address = await addresses.checked_address(url, allow_private)
            target, server_hostname = url, None
            if address is not None:
                target, host_header, server_hostname = _to_address(url, address)
                headers = {**headers, "Host": host_header}
            async with client.post(
                target,
                data=body,
                headers=headers,
                allow_redirects=False,
                server_hostname=server_hostname if target.startswith("https:") else None,
            ) as response:
                status = response.status
    except addresses.Forbidden as refused:
        return Answer(None, f"address refused: {refused}")
    except TimeoutError:
        return Answer(None, f"no answer within {TIMEOUT_SECONDS:g} s")
    except aiohttp.ClientError as failed:
        return Answer(None, _failure(failed)[:500])
    if 300 <= status < 400:
        return Answer(status, "redirects are not followed")
    return Answer(status, None)
