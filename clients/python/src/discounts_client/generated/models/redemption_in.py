from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.cart_item import CartItem


T = TypeVar("T", bound="RedemptionIn")


@_attrs_define
class RedemptionIn:
    """Either ``amount`` (the whole order) or ``items`` (only the code's brand's lines are discounted).

    The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
    largest order priced; JSON Schema cannot say this, the description does.

        Attributes:
            code (str):
            user (str):
            amount (None | str | Unset):
            currency (None | str | Unset): The order's currency; required by a rule that has one
            hold (bool | Unset): Hold the code during checkout (status `held` until `hold_expires_at`), to confirm or
                release Default: False.
            items (list[CartItem] | None | Unset):
    """

    code: str
    user: str
    amount: None | str | Unset = UNSET
    currency: None | str | Unset = UNSET
    hold: bool | Unset = False
    items: list[CartItem] | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        user = self.user

        amount: None | str | Unset
        if isinstance(self.amount, Unset):
            amount = UNSET
        else:
            amount = self.amount

        currency: None | str | Unset
        if isinstance(self.currency, Unset):
            currency = UNSET
        else:
            currency = self.currency

        hold = self.hold

        items: list[dict[str, Any]] | None | Unset
        if isinstance(self.items, Unset):
            items = UNSET
        elif isinstance(self.items, list):
            items = []
            for items_type_0_item_data in self.items:
                items_type_0_item = items_type_0_item_data.to_dict()
                items.append(items_type_0_item)

        else:
            items = self.items

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "code": code,
                "user": user,
            }
        )
        if amount is not UNSET:
            field_dict["amount"] = amount
        if currency is not UNSET:
            field_dict["currency"] = currency
        if hold is not UNSET:
            field_dict["hold"] = hold
        if items is not UNSET:
            field_dict["items"] = items

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cart_item import CartItem  # noqa: PLC0415

        d = dict(src_dict)
        code = d.pop("code")

        user = d.pop("user")

        def _parse_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount = _parse_amount(d.pop("amount", UNSET))

        def _parse_currency(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        currency = _parse_currency(d.pop("currency", UNSET))

        hold = d.pop("hold", UNSET)

        def _parse_items(data: object) -> list[CartItem] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                items_type_0 = []
                _items_type_0 = data
                for items_type_0_item_data in _items_type_0:
                    items_type_0_item = CartItem.from_dict(items_type_0_item_data)

                    items_type_0.append(items_type_0_item)

                return items_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[CartItem] | None | Unset, data)

        items = _parse_items(d.pop("items", UNSET))

        redemption_in = cls(
            code=code,
            user=user,
            amount=amount,
            currency=currency,
            hold=hold,
            items=items,
        )

        return redemption_in
