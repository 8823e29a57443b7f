"""Bearer tokens: who is calling (a user, a brand or the marketplace's back end).

Tokens are JWTs signed with HS256 and the configured secret, or with RS256/ES256 when a
public key is configured. The algorithm is chosen from the key we hold, never from the
token alone: a token that names ``none`` or an algorithm we hold no key for is refused.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from jwt import PyJWS
from jwt.algorithms import HMACAlgorithm
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

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


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A key for one purpose only: HMAC-SHA256 of a label with the HS256 secret, never the secret itself.

    A value signed for one purpose (an unsubscribe link, a sign-in link, a form's CSRF token)
    is then worthless for any other, and none of them is an API token.
    """
    return hmac.new(settings.hs256_secret().encode(), f"discounts/{purpose}/v1".encode(), hashlib.sha256).digest()


def _pem(value: str) -> bytes:
    """A key given inline (PEM text) or as a path to a PEM file."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    return Path(value).expanduser().read_bytes()


class TokenVerifier:
    """Checks tokens against the configured keys; built once per process.

    At checkout a shopper sends the same token several times (fetch the code, then redeem
    it), so a verified token is remembered until it expires: a repeat costs a dict lookup
    instead of PyJWT's decoding and signature check. The cache is keyed by the whole token,
    signature included, so only a token that passed the full check is ever found in it.
    """

    #: Verified tokens remembered per process (oldest forgotten first): ~500 bytes each, so ~35 MB;
    #: at 1,700 new shoppers a second in one process, a token is remembered for ~40 s.
    CACHE_SIZE = 65_536

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        hs256 = _PreparedHMAC.prepare_once(settings.hs256_secret())
        self._keys: dict[str, Any] = {"HS256": hs256}
        self._jwt = jwt.PyJWT()
        self._jwt._jws = _Segments(options=self._jwt._jws.options)
        self._jwt._jws.unregister_algorithm("HS256")
        self._jwt._jws.register_algorithm("HS256", _PreparedHMAC(hs256))
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
        self._clock = clock
        # An OrderedDict, not a dict: forgetting a plain dict's oldest key scans past every slot
        # deleted before it, ~24 µs a new token once the cache is full (an OrderedDict: ~1.6 µs).
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None:
            if self._clock() <= known[1]:
                return known[0]
            del self._verified[token]
        # With one key there is nothing to choose: PyJWT refuses any other algorithm itself.
        alg = _algorithm(token) if len(self._keys) > 1 else "HS256"
        key = self._keys.get(alg) if isinstance(alg, str) else None
        if key is None or not isinstance(alg, str):
            raise Unauthenticated(f"tokens signed with {alg!r} are not accepted")
        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.InvalidAlgorithmError:
            raise Unauthenticated(f"tokens signed with {_algorithm(token)!r} are not accepted") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        principal = principal_from_claims(claims)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.popitem(last=False)
        self._verified[token] = (principal, float(claims["exp"]) + self._leeway)
        return principal


_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")


class _Segments(PyJWS):
    """PyJWS, with each segment's alphabet checked by a compiled pattern, not a loop per character.

    The checks are PyJWT's own (GHSA-hxm8-2xgr-2p9m: trailing ``=`` accepted, other junk refused,
    the decoding must round-trip); only the per-character generator, a third of the cost of
    verifying a token, is replaced.
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if padding > 2 or (padding and len(segment) % 4 != 0):
            raise DecodeError(f"Invalid {name} padding")
        if len(stripped) % 4 == 1 or _BASE64URL.fullmatch(stripped) is None:
            raise DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64url_decode(stripped)
        except (TypeError, binascii.Error) as err:
            raise DecodeError(f"Invalid {name} padding") from err
        if base64url_encode(decoded) != stripped:
            raise DecodeError(f"Invalid {name} padding")
        return decoded


class _PreparedHMAC(HMACAlgorithm):
    """HS256 whose key is checked once, when the process starts, not on every token.

    PyJWT re-checks an HMAC key on each call (that it is not a PEM, DER or JWK key, which
    costs a failed JSON parse); our key never changes, so the checks run once, in
    :meth:`prepare_once`, and any other key still gets them all.
    """

    def __init__(self, prepared: bytes) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._prepared = prepared

    @staticmethod
    def prepare_once(secret: str) -> bytes:
        prepared: bytes = HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
        return prepared

    def prepare_key(self, key: str | bytes) -> bytes:
        if key is self._prepared:
            return self._prepared
        prepared: bytes = super().prepare_key(key)
        return prepared


def _algorithm(token: str) -> object:
    """The ``alg`` of a token's header, read once to choose the key (PyJWT then checks everything)."""
    header = token.split(".", 1)[0]
    try:
        parsed = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise Unauthenticated(f"invalid token: {exc}") from None
    return parsed.get("alg") if isinstance(parsed, dict) else None


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
