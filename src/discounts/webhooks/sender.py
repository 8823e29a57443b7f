"""One signed POST to one endpoint, within 10 seconds, to an address checked as it connects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

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


def new_client() -> httpx.AsyncClient:
    """No redirects followed, no proxy or settings from the environment, no cookies kept between endpoints."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
    )


def _to_address(url: str, address: str) -> tuple[str, str, str]:
    """The URL with its host replaced by ``address``, and the Host header and TLS name to send."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc)), host_header, host


async def post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], *, allow_private: bool
) -> Answer:
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            address = await addresses.checked_address(url, allow_private)
            extensions = {}
            target = url
            if address is not None:
                target, host_header, tls_name = _to_address(url, address)
                headers = {**headers, "host": host_header}
                extensions["sni_hostname"] = tls_name
            request = client.build_request("POST", target, content=body, headers=headers, extensions=extensions)
            response = await client.send(request, stream=True)
            await response.aclose()
    except addresses.Forbidden as refused:
        return Answer(None, f"address refused: {refused}")
    except TimeoutError:
        return Answer(None, f"no answer within {TIMEOUT_SECONDS:g} s")
    except httpx.HTTPError as failed:
        return Answer(None, f"{failed.__class__.__name__}: {failed}"[:500] or failed.__class__.__name__)
    if response.is_redirect:
        return Answer(response.status_code, "redirects are not followed")
    return Answer(response.status_code, None)
