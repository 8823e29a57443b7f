"""The request fields' rules, pure: money, code strings, hashes, times."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from discounts.codes.schemas import CodeIn
from discounts.fields import (
    EMAIL_PATTERN,
    MONEY_STRING_PATTERN,
    POSITIVE_MONEY_STRING_PATTERN,
    Email,
    code_hash,
    normalize_code,
    parse_money,
)
from discounts.usage.schemas import RedemptionIn


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", "5"),
        ("120.00", "120.00"),
        ("0.1", "0.1"),
        (5, "5"),
        (120.5, "120.5"),
        ("999999999999.99", "999999999999.99"),
    ],
)
def test_money_accepts_decimal_strings_and_numbers(value: Any, expected: str) -> None:
    assert parse_money(value) == Decimal(expected)


@pytest.mark.parametrize(
    "value",
    [
        "1.005",
        1.005,
        "-1",
        -0.01,
        "abc",
        "",
        "NaN",
        float("nan"),
        "Infinity",
        float("inf"),
        "1e3",
        "5_000",
        " 5",
        "+5",
        "5.",
        ".5",
        "1000000000000",
        1e300,
        True,
        None,
        [],
        {"amount": 1},
    ],
)
def test_money_refuses_what_is_not_a_plain_amount(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_money(value)


@pytest.mark.parametrize("value", ["abc", "SpringSale2022", "a-b_c", "X" * 64, "123"])
def test_code_strings_are_upper_cased(value: str) -> None:
    assert normalize_code(value) == value.upper()


@pytest.mark.parametrize(
    "value", ["ab", "X" * 65, "spring sale", "straße", "ä" * 3, "ıii", "ＡＢＣ", "abc\n", "a/b", "a.b", ""]
)
def test_malformed_code_strings_are_refused(value: str) -> None:
    """Checked before upper-casing: "straße" would otherwise become the valid "STRASSE"."""
    with pytest.raises(ValueError):
        normalize_code(value)


def test_hash_is_sha256_of_the_upper_case_string() -> None:
    expected = hashlib.sha256(b"SPRINGSALE2022").hexdigest()
    assert code_hash("springsale2022") == code_hash("SPRINGSALE2022") == expected


def code_in(validity: Any) -> CodeIn:
    return CodeIn.model_validate({"id": "abc", "rule": 1, "validity": validity})


def test_validity_with_an_offset_is_kept_in_utc() -> None:
    assert code_in("2027-06-01T01:59:59+02:00").validity == datetime(2027, 5, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "validity",
    [
        "2027-05-31T23:59:59",  # no offset
        "2027-05-31",
        1893456000,  # Unix time is not ISO 8601
        "1893456000",
        "9999-12-31T23:59:59-23:59",  # out of range once in UTC
        "0001-01-01T00:00:00+01:00",
        "tomorrow",
        None,
    ],
)
def test_validity_must_be_iso_8601_with_an_offset(validity: Any) -> None:
    with pytest.raises(ValidationError):
        code_in(validity)


@pytest.mark.parametrize("rule", [0, -1, 2**31, 10**20, True, "1", 1.5, 0.0])
def test_rule_ids_are_positive_32_bit_integers(rule: Any) -> None:
    with pytest.raises(ValidationError):
        CodeIn.model_validate({"id": "abc", "rule": rule, "validity": "2027-05-31T23:59:59Z"})


def test_redemption_needs_exactly_one_of_amount_and_items() -> None:
    base = {"code": "abc", "user": "u-1"}
    item = {"brand": "acme", "price": "1.00", "quantity": 1}
    assert RedemptionIn.model_validate({**base, "amount": "5"}).amount == Decimal(5)
    assert RedemptionIn.model_validate({**base, "items": [item]}).items is not None
    for body in (base, {**base, "amount": "5", "items": [item]}, {**base, "items": []}):
        with pytest.raises(ValidationError):
            RedemptionIn.model_validate(body)


def test_cart_total_is_bounded() -> None:
    item = {"brand": "acme", "price": "999999999999.99", "quantity": 2}
    with pytest.raises(ValidationError, match="cannot exceed"):
        RedemptionIn.model_validate({"code": "abc", "user": "u-1", "items": [item]})


@given(st.text(alphabet="0123456789.-+e _", max_size=20) | st.from_regex(MONEY_STRING_PATTERN, fullmatch=True))
def test_the_documented_money_pattern_is_what_the_server_takes(value: str) -> None:
    """The OpenAPI document's pattern for a money string and the parser agree on every string."""
    try:
        parse_money(value)
        taken = True
    except ValueError:
        taken = False
    assert taken == bool(re.fullmatch(MONEY_STRING_PATTERN, value)), value


@pytest.mark.parametrize("value", ["0", "0.0", "00.00", "0.01", "1", "999999999999.99"])
def test_the_positive_money_pattern_refuses_exactly_zero(value: str) -> None:
    assert bool(re.fullmatch(POSITIVE_MONEY_STRING_PATTERN, value)) == (parse_money(value) > 0)


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("ann@example.com", True),
        ("a.b+c@shop.example.org", True),
        ("ann@shop.test", False),  # special-use names deliver nowhere
        ("ann@SHOP.LOCAL", False),
        ("ann@localhost", False),
        ("ann@shop.c0", False),  # a top-level domain is never numeric
        ("ann@nodot", False),
    ],
)
def test_the_documented_email_pattern_matches_what_the_server_takes(email: str, valid: bool) -> None:
    assert bool(re.fullmatch(EMAIL_PATTERN, email)) is valid
    assert TypeAdapter(Email).validator.isinstance_python(email) is valid
