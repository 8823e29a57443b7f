"""The Python client's own logic, without the service: retry decisions, money, webhooks, the error table."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import cast

import httpx
import pytest
import standardwebhooks
from discounts_client import (
    CartRejected,
    CodeAlreadyUsed,
    Conflict,
    Line,
    ProblemError,
    RetryPolicy,
    ServerError,
    Unavailable,
    ValidationFailed,
    WebhookVerificationError,
    WebhookVerifier,
    ops,
)
from discounts_client.errors import BY_REASON, problem_error
from discounts_client.money import to_wire
from discounts_client.retry import Attempts, retry_after

from discounts.api.problems import HTTP_CODES
from discounts.errors import DiscountsError as ServiceError
from discounts.errors import MailError
from tests.clients.test_drift import committed_document


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def attempts(request: httpx.Request, clock: Clock | None = None, **policy: float) -> Attempts:
    return Attempts(RetryPolicy(random=lambda: 1.0, clock=clock or Clock(), **policy), request)  # type: ignore[arg-type]


QUOTE = httpx.Request("POST", "http://service.test/api/v1/discountcodequote/")
KEYED = httpx.Request("POST", "http://service.test/api/v1/discountcodeusage/", headers={"Idempotency-Key": "k"})
DROPPED = httpx.RemoteProtocolError("Server disconnected without sending a response.")


def test_a_503_is_retried_after_its_retry_after_with_growing_waits_and_bounded_attempts() -> None:
    retries = attempts(QUOTE)
    assert retries.after_response(httpx.Response(503, headers={"Retry-After": "1"})) == 1.0
    assert retries.after_response(httpx.Response(503)) == 0.4
    assert retries.after_response(httpx.Response(503)) == 0.8
    assert retries.after_response(httpx.Response(503)) is None  # 4 attempts made
    assert attempts(QUOTE).after_response(httpx.Response(409)) is None


def test_a_retry_after_past_the_time_budget_is_not_waited_for() -> None:
    clock = Clock()
    assert attempts(QUOTE, clock).after_response(httpx.Response(429, headers={"Retry-After": "30"})) is None
    clock.now = 19.9
    late = attempts(QUOTE, clock)
    clock.now = 39.85
    assert late.after_response(httpx.Response(429)) is None  # 0.2 s more would pass the 20 s budget


def test_a_lost_answer_is_retried_only_where_replaying_is_safe() -> None:
    assert attempts(QUOTE).after_error(DROPPED) is None
    assert attempts(QUOTE).after_error(httpx.ReadTimeout("slow")) is None
    assert attempts(KEYED).after_error(DROPPED) == 0.2
    assert attempts(httpx.Request("DELETE", "http://service.test/x")).after_error(DROPPED) == 0.2
    assert attempts(QUOTE).after_error(httpx.ConnectError("refused")) == 0.2  # nothing was sent


def test_retry_after_in_either_form() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    assert retry_after(httpx.Headers({"Retry-After": "7"})) == 7.0
    date = httpx.Headers({"Retry-After": format_datetime(at, usegmt=True)})
    assert retry_after(date, now=lambda: at.timestamp() - 10) == 10.0
    assert retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after(httpx.Headers()) is None


def test_money_goes_out_exact_and_never_as_a_float() -> None:
    assert (to_wire(Decimal("120.5")), to_wire(Decimal("1E+2")), to_wire(7)) == ("120.5", "100", "7")
    with pytest.raises(TypeError):
        to_wire(1.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        to_wire(Decimal("NaN"))
    body = ops.redeem("SPRING", user="u-1", amount=Decimal("120.00")).kwargs["body"].to_dict()
    assert body["amount"] == "120.00"


def test_an_operation_has_its_key_once_and_keeps_it() -> None:
    redeem = ops.redeem("SPRING", user="u-1", amount=Decimal("1"))
    assert redeem.idempotency_key
    assert redeem.idempotency_key != ops.redeem("SPRING", user="u-1", amount=Decimal("1")).idempotency_key
    assert ops.redeem("SPRING", user="u-1", amount=1, idempotency_key="mine").idempotency_key == "mine"
    assert ops.quote("SPRING", user="u-1", amount=1).idempotency_key is None  # a quote takes none
    lines = [Line("acme", Decimal("1"))]
    assert ops.cart_redeem(["SPRING"], user="u-1", lines=lines).idempotency_key
    assert ops.cart_confirm("cart-1").idempotency_key
    assert ops.cart_quote(["SPRING"], user="u-1", lines=lines).idempotency_key is None


def test_a_cart_line_goes_out_with_what_targeting_needs() -> None:
    lines = [Line("acme", Decimal("50.00"), 2, id="li-1", product="sku-42", categories=("shoes", "sale"))]
    lines.append(Line("bolt", Decimal("5")))
    body = ops.cart_redeem(["A", "b"], user="u-1", lines=lines, currency="EUR", hold=True).kwargs["body"].to_dict()
    assert body == {
        "codes": ["A", "b"],
        "user": "u-1",
        "currency": "EUR",
        "hold": True,
        "lines": [
            {
                "brand": "acme",
                "price": "50.00",
                "quantity": 2,
                "id": "li-1",
                "product": "sku-42",
                "categories": ["shoes", "sale"],
            },
            {"brand": "bolt", "price": "5", "quantity": 1},
        ],
    }


def test_every_reason_the_service_answers_has_its_exception() -> None:
    """A code the service adds (a new DiscountsError, or a code its document names) fails here until mapped."""
    service = {(cls.status, cls.code) for cls in _subclasses(ServiceError) if not issubclass(cls, MailError)}
    service |= {(status, code) for status, code in HTTP_CODES.items() if status != 405}
    service -= {(403, "stale_form"), (404, "not_found")}  # the dashboard's forms; an unknown path
    for status, code in sorted(service):
        assert (status, code) in BY_REASON, (
            f"add an exception for {status} {code} to clients/python/src/discounts_client/errors.py"
        )
    named = set()
    document = committed_document()
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    named |= set(re.findall(r"`([a-z_]+)`", response.get("description", "")))
    assert named - document["components"]["schemas"]["Problem"]["properties"].keys() <= {code for _, code in BY_REASON}


def _subclasses(cls: type[ServiceError]) -> list[type[ServiceError]]:
    return [sub for direct in cls.__subclasses__() for sub in [direct, *_subclasses(direct)]]


def test_a_problem_is_raised_as_its_code_then_its_status() -> None:
    body = {"type": "t", "title": "Used", "status": 409, "detail": "once", "code": "code_already_used"}
    assert type(problem_error(409, body)) is CodeAlreadyUsed
    later = problem_error(409, {**body, "code": "a_new_reason"})
    assert (type(later), later.reason) == (Conflict, "a_new_reason")
    assert type(problem_error(503, {"code": "unavailable"}, retry_after=1.0)) is Unavailable
    assert type(problem_error(502, {"detail": "<html>"})) is ServerError
    assert type(problem_error(418, {})) is ProblemError
    invalid = problem_error(422, {**body, "code": "validation_error", "errors": [{"loc": ["body", "x"], "msg": "bad"}]})
    assert isinstance(invalid, ValidationFailed)
    assert [(e.loc, e.msg) for e in invalid.errors] == [(["body", "x"], "bad")]
    refusals = [{"code": "SPRING", "reason": "code_expired", "detail": "ended"}]
    rejected = problem_error(409, {**body, "code": "cart_rejected", "rejected": refusals})
    assert isinstance(rejected, CartRejected)
    assert [(r.code, r.reason, r.detail) for r in rejected.rejected] == [("SPRING", "code_expired", "ended")]
    assert cast(CartRejected, problem_error(409, {**body, "code": "cart_rejected"})).rejected == []


SECRET = "whsec_" + base64.b64encode(b"a webhook secret of 32 bytes!!!!").decode()
OTHER = "whsec_" + base64.b64encode(b"another secret of 32 bytes!!!!!!").decode()
BODY = b'{"type": "usage.used", "timestamp": "2026-12-07T10:00:00Z", "data": {"code": "SPRING"}}'


def delivery(secret: str, body: bytes = BODY, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = standardwebhooks.Webhook(secret).sign("msg_2a8f", at, body)
    return {"Webhook-Id": "msg_2a8f", "Webhook-Timestamp": str(int(at.timestamp())), "Webhook-Signature": signature}


def test_a_signed_delivery_verifies_and_a_tampered_old_or_unsigned_one_does_not() -> None:
    verifier = WebhookVerifier(SECRET)
    event = verifier.verify(BODY, delivery(SECRET))
    assert (event.id, event.type, event.data) == ("msg_2a8f", "usage.used", {"code": "SPRING"})
    assert event.timestamp == datetime(2026, 12, 7, 10, tzinfo=UTC)
    for body, headers in [
        (BODY.replace(b"SPRING", b"SPRUNG"), delivery(SECRET)),
        (BODY, delivery(OTHER)),
        (BODY, delivery(SECRET, at=datetime.now(UTC) - timedelta(minutes=10))),
        (BODY, {"webhook-id": "msg_2a8f"}),
    ]:
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body, headers)
    # During a rotation the service signs with both secrets: either verifies.
    rotated = delivery(OTHER)
    rotated["Webhook-Signature"] += " " + delivery(SECRET)["Webhook-Signature"]
    assert verifier.verify(BODY, rotated).type == "usage.used"
