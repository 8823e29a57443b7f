"""Operations: a request described once, sent by either client (``Discounts.send`` or ``await AsyncDiscounts.send``).

An operation is one logical action: its ``Idempotency-Key`` is made when it is built, reused by
every retry, and reused again if the same object is sent a second time (so after a
``TransportError`` the caller may simply send it again). Build a new one for a new action.

The functions below cover the marketplace's checkout and the tour of the README, with money as
``Decimal``; ``call`` reaches every other generated operation with the same keys, retries and
typed errors, e.g. ``call(get_code_stats, id="SPRING")``.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import ModuleType
from typing import Any, Generic, TypeVar

from discounts_client.carts import CartQuote, CartRedemption
from discounts_client.generated.api.batches import batch_csv as _batch_csv
from discounts_client.generated.api.batches import create_batch as _create_batch
from discounts_client.generated.api.batches import get_batch as _get_batch
from discounts_client.generated.api.carts import confirm_cart as _confirm_cart
from discounts_client.generated.api.carts import give_back_cart as _give_back_cart
from discounts_client.generated.api.carts import quote_cart as _quote_cart
from discounts_client.generated.api.carts import redeem_cart as _redeem_cart
from discounts_client.generated.api.codes import create_code as _create_code
from discounts_client.generated.api.codes import get_code as _get_code
from discounts_client.generated.api.directory import put_brand as _put_brand
from discounts_client.generated.api.directory import put_user as _put_user
from discounts_client.generated.api.directory import put_users as _put_users
from discounts_client.generated.api.usage import confirm_usage as _confirm_usage
from discounts_client.generated.api.usage import give_back_usage as _give_back_usage
from discounts_client.generated.api.usage import quote_code as _quote_code
from discounts_client.generated.api.usage import use_code as _use_code
from discounts_client.generated.api.webhooks import create_webhook as _create_webhook
from discounts_client.generated.api.webhooks import delete_webhook as _delete_webhook
from discounts_client.generated.api.webhooks import get_webhook as _get_webhook
from discounts_client.generated.api.webhooks import list_webhooks as _list_webhooks
from discounts_client.generated.api.webhooks import rotate_webhook_secret as _rotate_webhook_secret
from discounts_client.generated.api.webhooks import test_webhook as _test_webhook
from discounts_client.generated.api.webhooks import update_webhook as _update_webhook
from discounts_client.generated.api.webhooks import webhook_deliveries as _webhook_deliveries
from discounts_client.generated.models import (
    AttemptOut,
    BatchIn,
    BatchOut,
    BrandIn,
    BrandOut,
    BulkResult,
    BulkUserIn,
    CartIn,
    CartRedemptionIn,
    CodeIn,
    CodeOut,
    CodeView,
    EndpointIn,
    EndpointInEventsType0Item,
    EndpointOut,
    EndpointPatch,
    EndpointPatchEventsType0Item,
    EndpointWithSecret,
    RedemptionIn,
    RuleIn,
    UserIn,
    UserOut,
)
from discounts_client.generated.types import UNSET, Unset
from discounts_client.money import Line, Quote, Redemption, to_wire

T = TypeVar("T")
U = TypeVar("U")


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def _same(parsed: Any) -> Any:
    return parsed


@dataclass(frozen=True)
class Operation(Generic[T]):
    """A generated endpoint module, its arguments, and how to turn its parsed answer into ``T``."""

    endpoint: ModuleType
    kwargs: Mapping[str, Any]
    result: Callable[[Any], T] = field(default=_same)

    @property
    def idempotency_key(self) -> str | None:
        key = self.kwargs.get("idempotency_key")
        return key if isinstance(key, str) else None

    def then(self, convert: Callable[[T], U]) -> Operation[U]:
        result = self.result
        return Operation(self.endpoint, self.kwargs, lambda parsed: convert(result(parsed)))


def call(endpoint: ModuleType, **kwargs: Any) -> Operation[Any]:
    """Any generated operation (``generated.api.*``), with a fresh ``Idempotency-Key`` where it takes one."""
    if "idempotency_key" in inspect.signature(endpoint.sync_detailed).parameters and not kwargs.get("idempotency_key"):
        kwargs["idempotency_key"] = new_idempotency_key()
    return Operation(endpoint, kwargs)


def _given(value: T | None) -> T | Any:
    return UNSET if value is None else value


# The directory (role service).


def put_brand(brand_id: str, *, name: str, email: str) -> Operation[BrandOut]:
    return call(_put_brand, brand_id=brand_id, body=BrandIn(name=name, email=email))


def put_user(user_id: str, *, email: str, group: str | None = None) -> Operation[UserOut]:
    return call(_put_user, user_id=user_id, body=UserIn(email=email, group=_given(group)))


def put_users(users: Iterable[BulkUserIn]) -> Operation[BulkResult]:
    return call(_put_users, body=list(users))


# Codes (role brand; anyone may fetch one).


def create_code(
    code: str, *, rule: RuleIn | int, validity: datetime, idempotency_key: str | None = None
) -> Operation[CodeOut]:
    return call(_create_code, body=CodeIn(id=code, rule=rule, validity=validity), idempotency_key=idempotency_key)


def get_code(code_or_hash: str) -> Operation[CodeView]:
    return call(_get_code, id=code_or_hash)


def percent_off(brand: str, discount: int, **limits: Any) -> RuleIn:
    """A rule of ``discount`` percent; ``limits`` are RuleIn's other fields (money as ``Decimal``)."""
    return RuleIn(brand=brand, discount=discount, **_money_fields(limits))


def amount_off(brand: str, amount: Decimal | int, currency: str, **limits: Any) -> RuleIn:
    """A rule of a fixed ``amount`` off, in ``currency``."""
    return RuleIn(brand=brand, amount_off=to_wire(amount), currency=currency, **_money_fields(limits))


def _money_fields(limits: dict[str, Any]) -> dict[str, Any]:
    return {k: to_wire(v) if isinstance(v, Decimal) else v for k, v in limits.items()}


# The checkout (role user; confirm and give back also role service).


def _redemption_in(
    code: str,
    user: str,
    amount: Decimal | int | None,
    items: Iterable[Line] | None,
    currency: str | None,
    hold: bool,
) -> RedemptionIn:
    return RedemptionIn(
        code=code,
        user=user,
        amount=UNSET if amount is None else to_wire(amount),
        items=UNSET if items is None else [line.to_generated() for line in items],
        currency=_given(currency),
        hold=hold,
    )


def redeem(
    code: str,
    *,
    user: str,
    amount: Decimal | int | None = None,
    items: Iterable[Line] | None = None,
    currency: str | None = None,
    hold: bool = False,
    idempotency_key: str | None = None,
) -> Operation[Redemption]:
    """Use ``code`` on an order of ``amount`` (or a cart of ``items``); ``hold=True`` holds it for the checkout."""
    body = _redemption_in(code, user, amount, items, currency, hold)
    return call(_use_code, body=body, idempotency_key=idempotency_key).then(Redemption.from_generated)


def quote(
    code: str,
    *,
    user: str,
    amount: Decimal | int | None = None,
    items: Iterable[Line] | None = None,
    currency: str | None = None,
) -> Operation[Quote]:
    """What ``redeem`` would answer — the price or the very error — recording nothing."""
    return call(_quote_code, body=_redemption_in(code, user, amount, items, currency, False)).then(Quote.from_generated)


def confirm(usage_id: str, *, idempotency_key: str | None = None) -> Operation[Redemption]:
    """A hold becomes a use (again: the same answer)."""
    return call(_confirm_usage, usage_id=usage_id, idempotency_key=idempotency_key).then(Redemption.from_generated)


def give_back(usage_id: str) -> Operation[None]:
    """Release a hold, or roll back a use (the order was cancelled, the payment failed)."""
    return call(_give_back_usage, usage_id=usage_id).then(lambda _: None)


# The marketplace cart (role user; confirm and give back also role service).


def cart_quote(
    codes: Iterable[str], *, user: str, lines: Iterable[Line], currency: str | None = None
) -> Operation[CartQuote]:
    """The cart priced with each code (1–10, of any brands), each refused one in ``rejected``; nothing recorded."""
    body = CartIn(
        codes=list(codes), user=user, lines=[line.to_generated() for line in lines], currency=_given(currency)
    )
    return call(_quote_cart, body=body).then(CartQuote.from_generated)


def cart_redeem(
    codes: Iterable[str],
    *,
    user: str,
    lines: Iterable[Line],
    currency: str | None = None,
    hold: bool = False,
    idempotency_key: str | None = None,
) -> Operation[CartRedemption]:
    """Every code used (or held, ``hold=True``), or none: ``CartRejected`` lists what would be refused."""
    body = CartRedemptionIn(
        codes=list(codes),
        user=user,
        lines=[line.to_generated() for line in lines],
        currency=_given(currency),
        hold=hold,
    )
    return call(_redeem_cart, body=body, idempotency_key=idempotency_key).then(CartRedemption.from_generated)


def cart_confirm(cart_id: str, *, idempotency_key: str | None = None) -> Operation[CartRedemption]:
    """A held cart's codes all become uses (again: the same answer; after its end: ``HoldExpired``)."""
    return call(_confirm_cart, id=cart_id, idempotency_key=idempotency_key).then(CartRedemption.from_generated)


def cart_give_back(cart_id: str) -> Operation[None]:
    """Release a held cart, or roll back a used one: every code of it still held or used comes back."""
    return call(_give_back_cart, id=cart_id).then(lambda _: None)


# Webhook endpoints (role brand: its own events; role service: every brand's). Each principal
# manages the endpoints it created; another's is WebhookNotFound.


def create_webhook(
    url: str, *, events: Iterable[str] | None = None, description: str | None = None
) -> Operation[EndpointWithSecret]:
    """Subscribe ``url`` to ``events`` (every type when None); the answer's ``secret`` is shown this once."""
    chosen = UNSET if events is None else [EndpointInEventsType0Item(event) for event in events]
    return call(_create_webhook, body=EndpointIn(url=url, events=chosen, description=_given(description)))


def list_webhooks() -> Operation[list[EndpointOut]]:
    return call(_list_webhooks)


def get_webhook(endpoint_id: str) -> Operation[EndpointOut]:
    return call(_get_webhook, id=endpoint_id)


def update_webhook(
    endpoint_id: str,
    *,
    url: str | Unset = UNSET,
    events: Iterable[str] | Unset | None = UNSET,
    description: str | Unset | None = UNSET,
    enabled: bool | Unset = UNSET,
) -> Operation[EndpointOut]:
    """Only what is given changes: ``events=None`` sends every type, ``description=None`` clears it."""
    chosen = (
        events if events is None or isinstance(events, Unset) else [EndpointPatchEventsType0Item(e) for e in events]
    )
    body = EndpointPatch(url=url, events=chosen, description=description, enabled=enabled)
    return call(_update_webhook, id=endpoint_id, body=body)


def delete_webhook(endpoint_id: str) -> Operation[None]:
    return call(_delete_webhook, id=endpoint_id).then(lambda _: None)


def rotate_webhook_secret(endpoint_id: str) -> Operation[EndpointWithSecret]:
    """A new ``secret``, shown this once; for 24 hours deliveries are signed with the old one too."""
    return call(_rotate_webhook_secret, id=endpoint_id)


def ping_webhook(endpoint_id: str) -> Operation[AttemptOut]:
    """Send a ``ping`` event now (not retried) and answer how the attempt went (``status``, ``error``)."""
    return call(_test_webhook, id=endpoint_id)


def webhook_deliveries(endpoint_id: str) -> Operation[list[AttemptOut]]:
    """The endpoint's latest attempts, newest first."""
    return call(_webhook_deliveries, id=endpoint_id)


# Batches of single-use codes (role brand).


def create_batch(
    *,
    rule: RuleIn | int,
    validity: datetime,
    count: int,
    prefix: str | None = None,
    length: int | None = None,
    distribute: bool = False,
    idempotency_key: str | None = None,
) -> Operation[BatchOut]:
    body = BatchIn(
        rule=rule, validity=validity, count=count, prefix=_given(prefix), length=_given(length), distribute=distribute
    )
    return call(_create_batch, body=body, idempotency_key=idempotency_key)


def get_batch(batch_id: str) -> Operation[BatchOut]:
    return call(_get_batch, id=batch_id)


def batch_codes_csv(batch_id: str) -> Operation[str]:
    """The batch's codes as CSV text (``code,hash``); ``BatchNotReady`` before it is ``done``."""
    return call(_batch_csv, id=batch_id)
