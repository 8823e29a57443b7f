"""Token verification and minting with HS256, RS256 and ES256 keys (no HTTP, no database)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from discounts.auth import Principal, Role, TokenVerifier, mint_token, principal_from_claims
from discounts.errors import Unauthenticated
from discounts.settings import Settings
from tests.unit.keys import hs256_token, key_pair, unsigned_token

SECRET = "unit-test-secret-that-is-long-enough-0123456789abcdef"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, _env_file=None, **overrides)  # type: ignore[call-arg]


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "u-1", "role": "user", "exp": int(time.time()) + 600, **extra}


def mint(settings: Settings, role: Role = Role.user, sub: str = "u-1", brand: str | None = None) -> str:
    return mint_token(settings, role=role, sub=sub, brand=brand, ttl=timedelta(minutes=5), now=datetime.now(UTC))


def test_hs256_round_trip(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    token = mint(settings, Role.brand, "acme-admin", "acme")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert TokenVerifier(settings).verify(token) == Principal("acme-admin", Role.brand, "acme")


def test_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    token = mint(settings)
    secret_file = tmp_path / "data" / "jwt_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert TokenVerifier(Settings(data_dir=tmp_path / "data", _env_file=None)).verify(token).sub == "u-1"  # type: ignore[call-arg]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
@pytest.mark.parametrize("as_file", [False, True], ids=["pem", "path"])
def test_asymmetric_keys_inline_or_as_files(tmp_path: Path, algorithm: str, as_file: bool) -> None:
    keys = key_pair(algorithm)
    public, private = keys.public_pem, keys.private_pem
    if as_file:
        (tmp_path / "public.pem").write_text(public)
        (tmp_path / "private.pem").write_text(private)
        public, private = str(tmp_path / "public.pem"), str(tmp_path / "private.pem")
    settings = make_settings(tmp_path, jwt_public_key=public, jwt_private_key=private)
    token = mint(settings, Role.service, "marketplace")
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert TokenVerifier(settings).verify(token) == Principal("marketplace", Role.service)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_token_of_another_key_pair_is_refused(tmp_path: Path, algorithm: str) -> None:
    settings = make_settings(tmp_path, jwt_public_key=key_pair(algorithm).public_pem)
    forged = jwt.encode(claims(), key_pair(algorithm, variant=1).private_pem, algorithm=algorithm)
    with pytest.raises(Unauthenticated):
        TokenVerifier(settings).verify(forged)


def test_only_the_configured_key_types_algorithm_is_accepted(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, jwt_public_key=key_pair("RS256").public_pem)
    es256 = jwt.encode(claims(), key_pair("ES256").private_pem, algorithm="ES256")
    with pytest.raises(Unauthenticated, match="ES256"):
        TokenVerifier(settings).verify(es256)


def test_algorithm_confusion_is_refused(tmp_path: Path) -> None:
    """An HS256 token whose secret is the public key's PEM: the classic RS256 → HS256 downgrade."""
    public = key_pair("RS256").public_pem
    settings = make_settings(tmp_path, jwt_public_key=public)
    with pytest.raises(Unauthenticated):
        TokenVerifier(settings).verify(hs256_token(claims(), public.encode()))


def test_hs256_with_the_right_secret_made_by_hand_is_accepted(tmp_path: Path) -> None:
    """The control for the forgeries above: the hand-made token format itself is valid."""
    principal = TokenVerifier(make_settings(tmp_path)).verify(hs256_token(claims(), SECRET.encode()))
    assert principal == Principal("u-1", Role.user)


@pytest.mark.parametrize(
    "token",
    [
        unsigned_token(claims()),
        hs256_token(claims(), b"another-secret-of-sufficient-length-0123456789"),
        hs256_token(claims(exp=int(time.time()) - 3600), SECRET.encode()),
        hs256_token({"sub": "u-1", "role": "user"}, SECRET.encode()),
        hs256_token({"role": "user", "exp": int(time.time()) + 600}, SECRET.encode()),
        "not-a-token",
        "",
    ],
    ids=["alg-none", "wrong-secret", "expired", "no-exp", "no-sub", "garbage", "empty"],
)
def test_invalid_tokens_are_unauthenticated(tmp_path: Path, token: str) -> None:
    with pytest.raises(Unauthenticated):
        TokenVerifier(make_settings(tmp_path)).verify(token)


def test_rs256_without_a_configured_public_key_is_refused(tmp_path: Path) -> None:
    token = jwt.encode(claims(), key_pair("RS256").private_pem, algorithm="RS256")
    with pytest.raises(Unauthenticated, match="RS256"):
        TokenVerifier(make_settings(tmp_path)).verify(token)


@pytest.mark.parametrize(
    "bad",
    [
        {"role": None},
        {"role": "admin"},
        {"role": "USER"},
        {"role": "brand"},
        {"role": "brand", "brand": ""},
        {"sub": ""},
    ],
    ids=["no-role", "unknown-role", "wrong-case-role", "brand-without-brand", "empty-brand", "empty-sub"],
)
def test_claims_must_name_a_known_role(bad: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated):
        principal_from_claims({k: v for k, v in claims(**bad).items() if v is not None})


def test_brand_claim_is_ignored_for_other_roles() -> None:
    assert principal_from_claims(claims(brand="acme")) == Principal("u-1", Role.user)
