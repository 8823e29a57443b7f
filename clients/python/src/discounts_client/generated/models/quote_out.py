from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.allocation import Allocation


T = TypeVar("T", bound="QuoteOut")


@_attrs_define
class QuoteOut:
    """What a redemption gives: ``discount`` for a percent rule, ``amount_off`` and ``currency`` for a fixed one.

    Attributes:
        amount (str):
        amount_to_pay (str):
        code (str):
        discount_amount (str):
        user (str):
        allocations (list[Allocation] | None | Unset): With `items`: the discount line by line (largest remainder; sums
            to it exactly)
        amount_off (None | str | Unset): The fixed amount off (fixed-amount rules only)
        cart (None | str | Unset): The cart redemption this usage is part of, if any
        currency (None | str | Unset): The rule's currency, or the one the request named
        discount (int | None | Unset): Percent off (percent rules only)
    """

    amount: str
    amount_to_pay: str
    code: str
    discount_amount: str
    user: str
    allocations: list[Allocation] | None | Unset = UNSET
    amount_off: None | str | Unset = UNSET
    cart: None | str | Unset = UNSET
    currency: None | str | Unset = UNSET
    discount: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        amount_to_pay = self.amount_to_pay

        code = self.code

        discount_amount = self.discount_amount

        user = self.user

        allocations: list[dict[str, Any]] | None | Unset
        if isinstance(self.allocations, Unset):
            allocations = UNSET
        elif isinstance(self.allocations, list):
            allocations = []
            for allocations_type_0_item_data in self.allocations:
                allocations_type_0_item = allocations_type_0_item_data.to_dict()
                allocations.append(allocations_type_0_item)

        else:
            allocations = self.allocations

        amount_off: None | str | Unset
        if isinstance(self.amount_off, Unset):
            amount_off = UNSET
        else:
            amount_off = self.amount_off

        cart: None | str | Unset
        if isinstance(self.cart, Unset):
            cart = UNSET
        else:
            cart = self.cart

        currency: None | str | Unset
        if isinstance(self.currency, Unset):
            currency = UNSET
        else:
            currency = self.currency

        discount: int | None | Unset
        if isinstance(self.discount, Unset):
            discount = UNSET
        else:
            discount = self.discount

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount": amount,
                "amount_to_pay": amount_to_pay,
                "code": code,
                "discount_amount": discount_amount,
                "user": user,
            }
        )
        if allocations is not UNSET:
            field_dict["allocations"] = allocations
        if amount_off is not UNSET:
            field_dict["amount_off"] = amount_off
        if cart is not UNSET:
            field_dict["cart"] = cart
        if currency is not UNSET:
            field_dict["currency"] = currency
        if discount is not UNSET:
            field_dict["discount"] = discount

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.allocation import Allocation  # noqa: PLC0415

        d = dict(src_dict)
        amount = d.pop("amount")

        amount_to_pay = d.pop("amount_to_pay")

        code = d.pop("code")

        discount_amount = d.pop("discount_amount")

        user = d.pop("user")

        def _parse_allocations(data: object) -> list[Allocation] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                allocations_type_0 = []
                _allocations_type_0 = data
                for allocations_type_0_item_data in _allocations_type_0:
                    allocations_type_0_item = Allocation.from_dict(allocations_type_0_item_data)

                    allocations_type_0.append(allocations_type_0_item)

                return allocations_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[Allocation] | None | Unset, data)

        allocations = _parse_allocations(d.pop("allocations", UNSET))

        def _parse_amount_off(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_off = _parse_amount_off(d.pop("amount_off", UNSET))

        def _parse_cart(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        cart = _parse_cart(d.pop("cart", UNSET))

        def _parse_currency(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        currency = _parse_currency(d.pop("currency", UNSET))

        def _parse_discount(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        discount = _parse_discount(d.pop("discount", UNSET))

        quote_out = cls(
            amount=amount,
            amount_to_pay=amount_to_pay,
            code=code,
            discount_amount=discount_amount,
            user=user,
            allocations=allocations,
            amount_off=amount_off,
            cart=cart,
            currency=currency,
            discount=discount,
        )

        quote_out.additional_properties = d
        return quote_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
