"""Every problem detail the service answers, raised as an exception chosen by its stable ``code``.

    DiscountsError
    ├── TransportError             no answer, even after the retries: the request may or may not have been applied
    │   ├── Timeout
    │   └── NetworkError           refused, reset, or closed without an answer
    └── ProblemError               an RFC 9457 answer: ``status``, ``code``, ``title``, ``detail``, ``problem``
        ├── Unauthenticated        401 unauthenticated
        ├── Forbidden              403 forbidden
        │   └── BrandMismatch, UserMismatch, NotInGroup
        ├── NotFound               404
        │   └── CodeNotFound, UsageNotFound, RuleNotFound, BrandNotFound, UserNotFound, BatchNotFound, InvalidLink,
        │       CartNotFound, WebhookNotFound
        ├── Conflict               409
        │   └── CodeExists, CodeAlreadyUsed, CodeNotActive, CodeExhausted, IdempotencyInProgress, BatchNotReady,
        │       CartRejected (``rejected``)
        ├── Gone                   410
        │   └── CodeExpired, HoldExpired
        ├── PayloadTooLarge        413 payload_too_large
        ├── UnsupportedMediaType   415 unsupported_media_type
        ├── InvalidRequest         422
        │   └── ValidationFailed (``errors``), MinAmountNotMet, CurrencyMismatch, LinesRequired, IdempotencyKeyReused
        ├── RateLimited            429 rate_limited (``retry_after``)
        └── ServerError            5xx
            └── Unavailable        503 unavailable, not_ready (``retry_after``)

The shape follows httpx's own exceptions: a transport failure (no answer) is told apart from an
answer that refuses. A code this version does not know yet is raised as its status's class (a new
409 reason is still a ``Conflict``), so catching by status keeps working as the API grows. A new
reason is one subclass with its ``code``: ``__init_subclass__`` files it in the table.
"""

from __future__ import annotations

from typing import Any, ClassVar

from discounts_client.generated.models import FieldError, Problem, RejectedCode

__all__ = [
    "BatchNotFound",
    "BatchNotReady",
    "BrandMismatch",
    "BrandNotFound",
    "BrandNotRegistered",
    "CartNotFound",
    "CartRejected",
    "CodeAlreadyUsed",
    "CodeExhausted",
    "CodeExists",
    "CodeExpired",
    "CodeNotActive",
    "CodeNotFound",
    "Conflict",
    "CurrencyMismatch",
    "DiscountsError",
    "Forbidden",
    "ForbiddenByRole",
    "Gone",
    "HoldExpired",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "InvalidLink",
    "InvalidRequest",
    "LinesRequired",
    "MinAmountNotMet",
    "NetworkError",
    "NotFound",
    "NotInGroup",
    "NotReady",
    "PayloadTooLarge",
    "ProblemError",
    "RateLimited",
    "RuleNotFound",
    "ServerError",
    "Timeout",
    "TransportError",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
    "UsageNotFound",
    "UserMismatch",
    "UserNotFound",
    "ValidationFailed",
    "WebhookNotFound",
    "problem_error",
]

#: The class for each (status, stable ``code``) — one code may come with two statuses (``brand_not_found``:
#: 404 for a brand the path names, 422 for one a body names) — and for each status when the code is unknown.
BY_REASON: dict[tuple[int, str], type[ProblemError]] = {}
BY_STATUS: dict[int, type[ProblemError]] = {}


class DiscountsError(Exception):
    """Anything this client raises about a call."""


class TransportError(DiscountsError):
    """No answer came, even after the retries; whether the service applied the request is unknown.

    Sending the same operation again (``send(op)`` with the same object) is safe where the call
    has an ``Idempotency-Key``: the service replays the first answer instead of acting twice.
    """


class Timeout(TransportError):
    pass


class NetworkError(TransportError):
    pass


class ProblemError(DiscountsError):
    """The service answered with problem details (``application/problem+json``)."""

    status: ClassVar[int] = 0
    code: ClassVar[str | None] = None

    def __init__(self, status: int, body: dict[str, Any], retry_after: float | None = None) -> None:
        self.status_code = status
        self.body = body
        self.retry_after = retry_after
        self.problem = Problem.from_dict(
            {"type": "about:blank", "title": "", "detail": "", "code": "", **body, "status": status}
        )
        super().__init__(f"{status} {self.problem.code or 'error'}: {self.problem.detail or self.problem.title}")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__ and cls.code is not None:
            BY_REASON[cls.status, cls.code] = cls
        elif "status" in cls.__dict__:
            BY_STATUS[cls.status] = cls

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def title(self) -> str:
        return self.problem.title

    @property
    def reason(self) -> str:
        """The ``code`` the service answered (``code_already_used``), also one this client does not know yet."""
        return self.problem.code

    @property
    def request_id(self) -> str | None:
        """The service's ``X-Request-ID`` for this request: quote it when asking for support."""
        value = self.problem.request_id
        return value if isinstance(value, str) else None


def problem_error(status: int, body: dict[str, Any], retry_after: float | None = None) -> ProblemError:
    """The most specific exception for an answer: by its ``code``, else by its status, else by its status class."""
    code = body.get("code")
    cls = BY_REASON.get((status, code)) if isinstance(code, str) else None
    if cls is None:
        cls = BY_STATUS.get(status) or (ServerError if status >= 500 else ProblemError)
    return cls(status, body, retry_after)


class Unauthenticated(ProblemError):
    status, code = 401, "unauthenticated"


class Forbidden(ProblemError):
    status = 403


class ForbiddenByRole(Forbidden):
    """The token's role may not do this."""

    status, code = 403, "forbidden"


class BrandMismatch(Forbidden):
    status, code = 403, "brand_mismatch"


class UserMismatch(Forbidden):
    status, code = 403, "user_mismatch"


class NotInGroup(Forbidden):
    status, code = 403, "not_in_group"


class NotFound(ProblemError):
    status = 404


class CodeNotFound(NotFound):
    status, code = 404, "code_not_found"


class UsageNotFound(NotFound):
    status, code = 404, "usage_not_found"


class RuleNotFound(NotFound):
    status, code = 404, "rule_not_found"


class BrandNotFound(NotFound):
    status, code = 404, "brand_not_found"


class UserNotFound(NotFound):
    status, code = 404, "user_not_found"


class BatchNotFound(NotFound):
    status, code = 404, "batch_not_found"


class InvalidLink(NotFound):
    status, code = 404, "invalid_link"


class CartNotFound(NotFound):
    """No such cart redemption of this user: unknown, someone else's, or given back already (a second release)."""

    status, code = 404, "cart_not_found"


class WebhookNotFound(NotFound):
    """No such webhook endpoint of this principal (each sees only the endpoints it created)."""

    status, code = 404, "webhook_not_found"


class Conflict(ProblemError):
    status = 409


class CodeExists(Conflict):
    status, code = 409, "code_exists"


class CodeAlreadyUsed(Conflict):
    status, code = 409, "code_already_used"


class CodeNotActive(Conflict):
    status, code = 409, "code_not_active"


class CodeExhausted(Conflict):
    status, code = 409, "code_exhausted"


class IdempotencyInProgress(Conflict):
    """The first request with this key is still running: send the same operation again in a moment."""

    status, code = 409, "idempotency_in_progress"


class BatchNotReady(Conflict):
    status, code = 409, "batch_not_ready"


class CartRejected(Conflict):
    """A cart redemption is all or nothing: these codes would be refused, so none was used or held."""

    status, code = 409, "cart_rejected"

    @property
    def rejected(self) -> list[RejectedCode]:
        """Each refused code (upper-cased), its ``reason`` (a problem ``code``, ``not_applicable``,
        ``combination_disallowed``) and ``detail``, in the order of the request."""
        rejected = self.problem.rejected
        return rejected if isinstance(rejected, list) else []


class Gone(ProblemError):
    status = 410


class CodeExpired(Gone):
    status, code = 410, "code_expired"


class HoldExpired(Gone):
    status, code = 410, "hold_expired"


class PayloadTooLarge(ProblemError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ProblemError):
    status, code = 415, "unsupported_media_type"


class InvalidRequest(ProblemError):
    status = 422


class ValidationFailed(InvalidRequest):
    status, code = 422, "validation_error"

    @property
    def errors(self) -> list[FieldError]:
        """What is wrong, field by field (``loc``, ``msg``)."""
        errors = self.problem.errors
        return errors if isinstance(errors, list) else []


class BrandNotRegistered(InvalidRequest):
    """A body names a brand the directory does not know (register it first)."""

    status, code = 422, "brand_not_found"


class MinAmountNotMet(InvalidRequest):
    status, code = 422, "min_amount_not_met"


class CurrencyMismatch(InvalidRequest):
    status, code = 422, "currency_mismatch"


class LinesRequired(InvalidRequest):
    """The code's rule targets products or categories: send the order's lines (``items``), not an ``amount``."""

    status, code = 422, "lines_required"


class IdempotencyKeyReused(InvalidRequest):
    """The key came before with another body: a bug in the caller, never a retry to make."""

    status, code = 422, "idempotency_key_reused"


class RateLimited(ProblemError):
    """Too many requests (or too many unknown codes tried); ``retry_after`` says for how long."""

    status, code = 429, "rate_limited"


class ServerError(ProblemError):
    status = 500


class Unavailable(ServerError):
    """A store the service needs is unreachable; nothing was recorded (the retries ran out first)."""

    status, code = 503, "unavailable"


class NotReady(Unavailable):
    status, code = 503, "not_ready"


BY_STATUS[503] = Unavailable
