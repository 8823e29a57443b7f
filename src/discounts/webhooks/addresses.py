"""Server-side request forgery: an endpoint may only be an address on the public internet.

Checked when an endpoint is saved and again when each delivery connects: the name is resolved,
every address it resolves to must be public (not loopback, private, link-local, multicast,
reserved, shared or unspecified), and the connection goes to the address just checked — so a
name that later re-resolves to 127.0.0.1 or 169.254.169.254 is refused at that delivery, not
followed. ``DISCOUNTS_WEBHOOK_ALLOW_PRIVATE=true`` lifts the rule (a test, a private network).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

#: A name that takes longer than this to resolve is refused for this attempt.
RESOLVE_SECONDS = 5.0


class Forbidden(Exception):
    """The address is not one a webhook may reach (the message says why)."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_and_port(url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Forbidden("the URL's port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise Forbidden("the URL names no host")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to now (an IP literal is itself)."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        raise Forbidden(f"{host} does not resolve ({exc.__class__.__name__})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in found))


async def checked_address(url: str, allow_private: bool) -> str | None:
    """The address to connect to for ``url``, checked; None when any address will do (allow_private).

    Every address of the name must be public: a name that answers with a public and a private
    one is refused, not tried in turn.
    """
    host, port = host_and_port(url)
    if allow_private:
        return None
    addresses = await resolve(host, port)
    refused = [address for address in addresses if not is_public(address)]
    if refused:
        raise Forbidden(f"{host} resolves to {refused[0]}, which is not a public address")
    return addresses[0]


async def check_on_save(url: str, allow_private: bool) -> None:
    """Refuse an endpoint whose host is a non-public address, or resolves to one now.

    A name that does not resolve yet is accepted: each delivery resolves and checks again.
    """
    if allow_private:
        return
    host, port = host_and_port(url)
    try:
        addresses = await resolve(host, port)
    except Forbidden:
        return
    for address in addresses:
        if not is_public(address):
            raise Forbidden(f"{host} resolves to {address}, which is not a public address")
