"""The domain's exceptions: one class per stable error ``code`` of the API contract.

    DiscountsError
    ├── Unauthenticated        401 unauthenticated
    ├── Forbidden              403 forbidden
    │   ├── BrandMismatch      403 brand_mismatch
    │   ├── UserMismatch       403 user_mismatch
    │   ├── NotInGroup         403 not_in_group (the code is for another user group)
    │   └── StaleForm          403 stale_form (a dashboard form without this session's CSRF token)
    ├── InvalidLink            404 invalid_link (an unsubscribe link that is not ours or is broken)
    ├── NotFound               404 (code_not_found, rule_not_found, brand_not_found, user_not_found,
    │                              usage_not_found, batch_not_found, cart_not_found, webhook_not_found)
    ├── CodeExists             409 code_exists (an import lists each taken code in ``errors``)
    ├── BatchNotReady          409 batch_not_ready (its codes are still being generated)
    ├── CodeAlreadyUsed        409 code_already_used (this user's uses are all taken)
    ├── CodeNotActive          409 code_not_active (before the rule's starts_at)
    ├── CodeExhausted          409 code_exhausted (max_uses reached, or the budget would be passed)
    ├── CartRejected           409 cart_rejected (a code of a cart would be refused: ``rejected`` lists each)
    ├── IdempotencyInProgress  409 idempotency_in_progress (the first request with this key is still running)
    ├── CodeExpired            410 code_expired
    ├── HoldExpired            410 hold_expired (a checkout hold ended before it was confirmed)
    ├── InvalidInput           422 validation_error (with per-field ``errors``)
    ├── MinAmountNotMet        422 min_amount_not_met
    ├── CurrencyMismatch       422 currency_mismatch
    ├── LinesRequired          422 lines_required (a rule that targets products or categories needs the lines)
    ├── IdempotencyKeyReused   422 idempotency_key_reused (the key came with another request before)
    ├── BrandNotRegistered     422 brand_not_found (a body names a brand the directory does not know)
    ├── RateLimited            429 rate_limited
    ├── NotCopiedYet           503 unavailable (a usage the ledger has not received yet; retry in a moment)
    └── MailError              (background work only, never an HTTP answer)
        ├── MailTemporaryError the mail server is unreachable or said 4xx: retry later
        └── MailRejected       the mail server refused this recipient or message (5xx): do not retry

The domain raises these without knowing about HTTP; ``api/problems.py`` renders each one
as RFC 9457 problem details from ``status``, ``code``, ``title`` and, where there are several
things wrong at once, ``errors`` (one entry per field or line). Beside them, ``UNREACHABLE``
names the failures of a store rather than of a request (503 with ``Retry-After`` in the API,
a warning and the next run in the worker); ``client_failures`` wraps calls to the Redis client
so that what the library raises when a connection is pulled from under it is one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from redis.exceptions import ClusterDownError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError


class StoreUnreachable(RedisConnectionError):
    """The connection to Redis failed while calls were on it: they may or may not have run, and are not sent again."""


@contextmanager
def client_failures(what: str) -> Iterator[None]:
    """A failure of the Redis client library itself, raised as :class:`StoreUnreachable` (a 503).

    The cluster client closes every connection of a node it gave up on, those other tasks are
    using too: they then meet ``AttributeError: 'NoneType' object has no attribute
    'writelines'`` (the stream writer gone), or uvloop's ``RuntimeError`` ("handler is
    closed"); a socket can also fail with a bare ``OSError``. Wrap only calls to the client.
    """
    try:
        yield
    except (AttributeError, RuntimeError, OSError) as exc:
        raise StoreUnreachable(f"{what}: {exc!r}") from exc


#: A store (Redis, the database) that cannot be reached or did not answer in time: try again soon.
UNREACHABLE: tuple[type[Exception], ...] = (
    RedisConnectionError,  # StoreUnreachable too
    RedisTimeoutError,
    ClusterDownError,
    TryAgainError,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


class DiscountsError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    #: What is wrong, where, when it is more than one thing: ``{"loc": [...], "msg": ..., "type": ...}``.
    errors: list[dict[str, Any]] | None = None

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    def extensions(self) -> dict[str, Any]:
        """Members of the problem document beyond RFC 9457's and ``errors`` (RFC 9457 §3.2)."""
        return {}


class InvalidLink(DiscountsError):
    """A link is a capability: one that does not verify names nothing, like any unknown URL."""

    status, code, title = 404, "invalid_link", "Invalid link"


class Unauthenticated(DiscountsError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(DiscountsError):
    status, code, title = 403, "forbidden", "Not allowed"


class BrandMismatch(Forbidden):
    code, title = "brand_mismatch", "Acting for another brand"


class UserMismatch(Forbidden):
    code, title = "user_mismatch", "Acting for another user"


class NotInGroup(Forbidden):
    code, title = "not_in_group", "The code is for another group of users"


class StaleForm(Forbidden):
    code, title = "stale_form", "The form is out of date"


class NotFound(DiscountsError):
    status, code, title = 404, "not_found", "Not found"


class CodeNotFound(NotFound):
    code, title = "code_not_found", "No such discount code"


class RuleNotFound(NotFound):
    code, title = "rule_not_found", "No such discount rule"


class BrandNotFound(NotFound):
    code, title = "brand_not_found", "No such brand"


class UserNotFound(NotFound):
    code, title = "user_not_found", "No such user"


class BatchNotFound(NotFound):
    code, title = "batch_not_found", "No such batch of codes"


class CodeExists(DiscountsError):
    status, code, title = 409, "code_exists", "Discount code already exists"

    def __init__(self, detail: str | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors


class BatchNotReady(DiscountsError):
    status, code, title = 409, "batch_not_ready", "The batch's codes are not all there yet"


class CodeAlreadyUsed(DiscountsError):
    status, code, title = 409, "code_already_used", "Discount code already used"


class CodeNotActive(DiscountsError):
    status, code, title = 409, "code_not_active", "Discount code not active yet"


class CodeExhausted(DiscountsError):
    status, code, title = 409, "code_exhausted", "Discount code exhausted"


class CartRejected(DiscountsError):
    """A cart is redeemed all or nothing: ``rejected`` says which codes would be refused, and why."""

    status, code, title = 409, "cart_rejected", "A code of the cart would be refused"

    def __init__(self, detail: str, rejected: list[dict[str, str]]) -> None:
        super().__init__(detail)
        self.rejected = rejected

    def extensions(self) -> dict[str, Any]:
        return {"rejected": self.rejected}


class MinAmountNotMet(DiscountsError):
    status, code, title = 422, "min_amount_not_met", "Order below the code's minimum"


class CurrencyMismatch(DiscountsError):
    status, code, title = 422, "currency_mismatch", "Wrong currency for this code"


class LinesRequired(DiscountsError):
    status, code, title = 422, "lines_required", "The order's lines are needed for this code"


class CodeExpired(DiscountsError):
    status, code, title = 410, "code_expired", "Discount code expired"


class HoldExpired(DiscountsError):
    status, code, title = 410, "hold_expired", "The checkout hold has ended"


class UsageNotFound(NotFound):
    code, title = "usage_not_found", "No such usage"


class CartNotFound(NotFound):
    code, title = "cart_not_found", "No such cart redemption"


class WebhookNotFound(NotFound):
    code, title = "webhook_not_found", "No such webhook endpoint"


class NotCopiedYet(DiscountsError):
    """Only a use never held, confirmed or given back on Redis just now: its body is in no store yet."""

    status, code, title = 503, "unavailable", "Service unavailable"
    retry_after = 1


class InvalidInput(DiscountsError):
    """A well-formed request that breaks a rule only the domain can check (e.g. validity in the past)."""

    status, code, title = 422, "validation_error", "Invalid request"

    def __init__(self, field: str, message: str, *, where: str = "body") -> None:
        super().__init__(f"{field}: {message}")
        self.errors = [{"loc": [where, *field.split(".")], "msg": message}]

    @classmethod
    def each(cls, errors: list[tuple[list[str | int], str]]) -> InvalidInput:
        """Several fields (or lines) wrong at once, every one listed: ``[(loc under body, why), ...]``."""
        (first, why), more = errors[0], len(errors) - 1
        refusal = cls(".".join(map(str, first)), why + (f" (and {more} more)" if more else ""))
        refusal.errors = [{"loc": ["body", *map(str, loc)], "msg": msg} for loc, msg in errors]
        return refusal


class BrandNotRegistered(DiscountsError):
    """A body names a brand the directory does not know: the request is wrong (API.md part 1: 422).

    Unlike ``BrandNotFound`` (404), no resource the request addressed is missing.
    """

    status, code, title = 422, "brand_not_found", "No such brand"

    def __init__(self, field: str, brand: str) -> None:
        super().__init__(f"{field}: brand {brand!r} is not registered in the directory")
        self.errors = [{"loc": ["body", *field.split(".")], "msg": "no such brand in the directory"}]


class IdempotencyInProgress(DiscountsError):
    status, code, title = 409, "idempotency_in_progress", "A request with this key is in progress"


class IdempotencyKeyReused(DiscountsError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency key used for another request"


class RateLimited(DiscountsError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class MailError(DiscountsError):
    status, code, title = 503, "mail_error", "Mail could not be sent"


class MailTemporaryError(MailError):
    code, title = "mail_unavailable", "Mail server unavailable"


class MailRejected(MailError):
    code, title = "mail_rejected", "Mail rejected"
