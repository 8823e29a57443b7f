"""Field types shared by the API's schemas: identifiers, code strings, money, times."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from discounts.money import format_money

#: Requests are strict about shape: an unknown field is a client bug worth reporting.
STRICT = ConfigDict(extra="forbid", str_strip_whitespace=False)

#: Brand, user and group ids: what a marketplace typically uses as keys.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

#: ISO 4217 alphabetic codes: three upper-case letters (EUR, USD, JPY).
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

CODE_RE = re.compile(r"^[A-Z0-9_-]{3,64}$")
#: What a client may send, checked before upper-casing: "straße".upper() is "STRASSE".
CODE_INPUT_PATTERN = r"^[A-Za-z0-9_-]{3,64}$"
CODE_INPUT_RE = re.compile(CODE_INPUT_PATTERN)
HASH_RE = re.compile(r"^[0-9a-f]{64}$")

#: The largest order we price; keeps every amount inside NUMERIC(14, 2).
MAX_MONEY = Decimal("999999999999.99")


def is_code_string(value: str) -> bool:
    return CODE_INPUT_RE.fullmatch(value) is not None


def is_code_hash(value: str) -> bool:
    return value.isascii() and HASH_RE.fullmatch(value.lower()) is not None


def normalize_code(value: str) -> str:
    """Codes are case-insensitive: stored and compared upper-case."""
    if not is_code_string(value):
        raise ValueError("a code is 3 to 64 characters of letters A-Z, digits, '-' and '_'")
    return value.upper()


def code_hash(code: str) -> str:
    return hashlib.sha256(code.upper().encode()).hexdigest()


def _code(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a code is a string")
    return normalize_code(value)


CodeString = Annotated[
    str,
    BeforeValidator(_code),
    WithJsonSchema({"type": "string", "pattern": CODE_INPUT_PATTERN, "minLength": 3, "maxLength": 64}),
]

#: A decimal string as a person writes it; exponents, "_" and blanks are not money.
MONEY_STRING_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def parse_money(value: Any) -> Decimal:
    """A decimal string or a JSON number with at most 2 fraction digits, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError('money is a decimal string such as "120.00"')
    if isinstance(value, str) and not MONEY_STRING_RE.fullmatch(value):
        raise ValueError('money is a decimal string such as "120.00"')
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError('money is a decimal string such as "120.00"') from None
    if not amount.is_finite():
        raise ValueError("money must be a finite number")
    if amount < 0:
        raise ValueError("money cannot be negative")
    if amount > MAX_MONEY:
        raise ValueError(f"money cannot exceed {MAX_MONEY}")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("money has at most 2 fraction digits")
    return amount


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$", "examples": ["120.00"]},
                {"type": "number", "minimum": 0, "maximum": float(MAX_MONEY)},
            ],
            "description": "A decimal string (or number) with at most 2 fraction digits",
        },
        mode="validation",
    ),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "examples": ["120.00"]}, mode="serialization"),
]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range") from None


#: ISO 8601 only: Pydantic would also take 1893456000 or "1893456000" as Unix time.
ISO_TIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _iso_time(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_TIME_RE.match(value):
        raise ValueError("a time is an ISO 8601 string with a UTC offset, e.g. 2027-05-31T23:59:59Z")
    return value


#: A time with a UTC offset; a naive time is refused rather than guessed.
UTCTime = Annotated[AwareDatetime, BeforeValidator(_iso_time), AfterValidator(_to_utc)]


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


TimeOut = Annotated[
    datetime,
    PlainSerializer(format_time, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
