"""Field types shared by the API's schemas: identifiers, code strings, money, times."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    EmailStr,
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


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


#: What email-validator takes, said in the OpenAPI document: one "@", a dotted domain ending in a
#: letter (a top-level domain is never numeric), none of
#: the special-use names of RFC 6761 (``.test``, ``.local``, …: mail to them goes nowhere), at
#: most 254 characters. The syntax of each part is ``format: email``'s.
EMAIL_PATTERN = (
    rf"^(?!.*[.@](?:{'|'.join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)})$)[^@]+@[^@]+\.[^@]*[A-Za-z]$"
)
Email = Annotated[
    EmailStr, WithJsonSchema({"type": "string", "format": "email", "maxLength": 254, "pattern": EMAIL_PATTERN})
]

#: A cart line's id, product and categories: what marketplaces use as SKUs and slugs (API.md part 3).
LINE_TOKEN = r"[A-Za-z0-9._:-]"
LineId = Annotated[str, StringConstraints(pattern=rf"^{LINE_TOKEN}{{1,64}}$")]
ProductId = Annotated[str, StringConstraints(pattern=rf"^{LINE_TOKEN}{{1,128}}$")]
Category = Annotated[str, StringConstraints(pattern=rf"^{LINE_TOKEN}{{1,64}}$")]

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

#: A decimal string as a person writes it, up to MAX_MONEY with at most 2 fraction digits;
#: exponents, signs, "_" and blanks are not money. The OpenAPI document says the same.
MONEY_STRING_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
MONEY_STRING_RE = re.compile(MONEY_STRING_PATTERN)
#: The same, more than zero (a rule's amounts).
POSITIVE_MONEY_STRING_PATTERN = r"^(?!0+(\.0{1,2})?$)[0-9]{1,12}(\.[0-9]{1,2})?$"


def parse_money(value: Any) -> Decimal:
    """A decimal string or a JSON number with at most 2 fraction digits, 0 or more."""
    if type(value) is str and MONEY_STRING_RE.fullmatch(value):
        return Decimal(value)  # the pattern is every check below: digits, at most 2 places, at most MAX_MONEY
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError('money is a decimal string such as "120.00"')
    if isinstance(value, str) and not MONEY_STRING_RE.fullmatch(value):
        if value.startswith("-"):
            raise ValueError("money cannot be negative")
        raise ValueError('money is a decimal string such as "120.00", at most 2 fraction digits and 12 before')
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


def money_schema(string_pattern: str, number_bound: dict[str, float]) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "string", "pattern": string_pattern, "examples": ["120.00"]},
            {"type": "number", **number_bound, "maximum": float(MAX_MONEY), "multipleOf": 0.01},
        ],
        "description": "A decimal string (or number) with at most 2 fraction digits",
    }


MONEY_OUT = WithJsonSchema(
    {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "examples": ["120.00"]}, mode="serialization"
)
Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str),
    WithJsonSchema(money_schema(MONEY_STRING_PATTERN, {"minimum": 0}), mode="validation"),
    MONEY_OUT,
]


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be more than 0")
    return value


PositiveMoney = Annotated[
    Money,
    AfterValidator(_positive),
    WithJsonSchema(money_schema(POSITIVE_MONEY_STRING_PATTERN, {"exclusiveMinimum": 0}), mode="validation"),
    MONEY_OUT,
]


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: 2 and 2.0 alike (a number without a fraction); never true, never "2"."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: After an ``int`` with ``Strict()`` and its bounds: an integer as JSON Schema means it, nothing
#: else (bools, strings). Last, so that the bounds still reach the OpenAPI document.
JSON_INTEGER = BeforeValidator(_json_integer)


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

#: A campaign's times (a code's validity, a rule's start) end before December 9999, as written:
#: a usage is kept a grace period past its code's validity, and that must still be a date. A
#: bound the OpenAPI document states exactly, and one that a generated date-time rarely meets.
CAMPAIGN_YEARS_PATTERN = r"^(?!9999-12)[0-9]{4}-"
CAMPAIGN_YEARS_RE = re.compile(CAMPAIGN_YEARS_PATTERN)


def _campaign_years(value: Any) -> Any:
    if isinstance(value, str) and not CAMPAIGN_YEARS_RE.match(value):
        raise ValueError("a campaign's time lies before December 9999")
    return value


CampaignTime = Annotated[
    UTCTime,
    BeforeValidator(_campaign_years),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": CAMPAIGN_YEARS_PATTERN}),
]


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


TimeOut = Annotated[
    datetime,
    PlainSerializer(format_time, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
