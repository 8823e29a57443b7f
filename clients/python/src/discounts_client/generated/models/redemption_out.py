from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.redemption_out_status import RedemptionOutStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.allocation import Allocation


T = TypeVar("T", bound="RedemptionOut")


@_attrs_define
class RedemptionOut:
    """
    Attributes:
        amount (str):
        amount_to_pay (str):
        code (str):
        discount_amount (str):
        id (str): The usage's id: confirm it, or release or roll it back, with it
        status (RedemptionOutStatus):
        used_at (datetime.datetime):
        user (str):
        allocations (list[Allocation] | None | Unset): With `items`: the discount line by line (largest remainder; sums
            to it exactly)
        amount_off (None | str | Unset): The fixed amount off (fixed-amount rules only)
        cart (None | str | Unset): The cart redemption this usage is part of, if any
        currency (None | str | Unset): The rule's currency, or the one the request named
        discount (int | None | Unset): Percent off (percent rules only)
        hold_expires_at (datetime.datetime | None | Unset): Only for a hold: when it gives itself back
    """

    amount: str
    amount_to_pay: str
    code: str
    discount_amount: str
    id: str
    status: RedemptionOutStatus
    used_at: datetime.datetime
    user: str
    allocations: list[Allocation] | None | Unset = UNSET
    amount_off: None | str | Unset = UNSET
    cart: None | str | Unset = UNSET
    currency: None | str | Unset = UNSET
    discount: int | None | Unset = UNSET
    hold_expires_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        amount_to_pay = self.amount_to_pay

        code = self.code

        discount_amount = self.discount_amount

        id = self.id

        status = self.status.value

        used_at = self.used_at.isoformat()

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

        hold_expires_at: None | str | Unset
        if isinstance(self.hold_expires_at, Unset):
            hold_expires_at = UNSET
        elif isinstance(self.hold_expires_at, datetime.datetime):
            hold_expires_at = self.hold_expires_at.isoformat()
        else:
            hold_expires_at = self.hold_expires_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount": amount,
                "amount_to_pay": amount_to_pay,
                "code": code,
                "discount_amount": discount_amount,
                "id": id,
                "status": status,
                "used_at": used_at,
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
        if hold_expires_at is not UNSET:
            field_dict["hold_expires_at"] = hold_expires_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.allocation import Allocation  # noqa: PLC0415

        d = dict(src_dict)
        amount = d.pop("amount")

        amount_to_pay = d.pop("amount_to_pay")

        code = d.pop("code")

        discount_amount = d.pop("discount_amount")

        id = d.pop("id")

        status = RedemptionOutStatus(d.pop("status"))

        used_at = datetime.datetime.fromisoformat(d.pop("used_at"))

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

        def _parse_hold_expires_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                hold_expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return hold_expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        hold_expires_at = _parse_hold_expires_at(d.pop("hold_expires_at", UNSET))

        redemption_out = cls(
            amount=amount,
            amount_to_pay=amount_to_pay,
            code=code,
            discount_amount=discount_amount,
            id=id,
            status=status,
            used_at=used_at,
            user=user,
            allocations=allocations,
            amount_off=amount_off,
            cart=cart,
            currency=currency,
            discount=discount,
            hold_expires_at=hold_expires_at,
        )

        redemption_out.additional_properties = d
        return redemption_out

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
