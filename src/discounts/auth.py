"""Bearer tokens: who is calling (a user, a brand or the marketplace's back end).

Tokens are JWTs signed with HS256 and the configured secret, or with RS256/ES256 when a
public key is configured. The algorithm is chosen from the key we hold, never from the
token alone: a token that names ``none`` or an algorithm we hold no key for is refused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from discounts.errors import Forbidden, Unauthenticated
from discounts.settings import Settings


class Role(enum.StrEnum):
    user = "user"
    brand = "brand"
    service = "service"


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    role: Role
    brand: str | None = None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"role {self.role.value!r} may not do this")


def _pem(value: str) -> bytes:
    """A key given inline (PEM text) or as a path to a PEM file."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    return Path(value).expanduser().read_bytes()


class TokenVerifier:
    """Checks tokens against the configured keys; built once per process."""

    def __init__(self, settings: Settings) -> None:
        self._keys: dict[str, Any] = {"HS256": settings.hs256_secret()}
        if settings.jwt_public_key:
            public = load_pem_public_key(_pem(settings.jwt_public_key))
            if isinstance(public, rsa.RSAPublicKey):
                self._keys["RS256"] = public
            elif isinstance(public, ec.EllipticCurvePublicKey):
                self._keys["ES256"] = public
            else:
                raise ValueError("DISCOUNTS_JWT_PUBLIC_KEY must be an RSA or EC public key")
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway_seconds

    def verify(self, token: str) -> Principal:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            key = self._keys.get(alg) if isinstance(alg, str) else None
            if key is None or not isinstance(alg, str):
                raise Unauthenticated(f"tokens signed with {alg!r} are not accepted")
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        return principal_from_claims(claims)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub, role, brand = claims.get("sub"), claims.get("role"), claims.get("brand")
    if not isinstance(sub, str) or not sub:
        raise Unauthenticated("the token has no subject")
    try:
        parsed = Role(str(role))
    except ValueError:
        raise Unauthenticated(f"unknown role {role!r}") from None
    if parsed is Role.brand:
        if not isinstance(brand, str) or not brand:
            raise Unauthenticated("a brand token must name its brand")
        return Principal(sub, parsed, brand)
    return Principal(sub, parsed)


def mint_token(
    settings: Settings,
    *,
    role: Role,
    sub: str,
    brand: str | None = None,
    ttl: timedelta,
    now: datetime,
) -> str:
    """A token signed with the configured private key, else the HS256 secret (for local use)."""
    claims: dict[str, Any] = {"sub": sub, "role": role.value, "iat": now, "exp": now + ttl}
    if brand is not None:
        claims["brand"] = brand
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_private_key:
        private = load_pem_private_key(_pem(settings.jwt_private_key), password=None)
        alg = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(claims, private, algorithm=alg)  # type: ignore[arg-type]
    return jwt.encode(claims, settings.hs256_secret(), algorithm="HS256")
