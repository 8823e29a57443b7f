from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.usage_row_status import UsageRowStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.allocation import Allocation


T = TypeVar("T", bound="UsageRow")


@_attrs_define
class UsageRow:
    """One usage of a code as its brand sees it.

    Attributes:
        amount (str):
        amount_to_pay (str):
        changed_at (datetime.datetime | None): When it was confirmed, released or rolled back
        currency (None | str):
        discount_amount (str):
        hold_until (datetime.datetime | None):
        id (str): The usage's id (what a rollback takes)
        status (UsageRowStatus): `expired`: a hold that ended without being confirmed
        use (int): Which of the user's uses of the code this is
        used_at (datetime.datetime):
        user (str):
        allocations (list[Allocation] | None | Unset): Its discount line by line (with lines)
        cart (None | str | Unset): The cart redemption it was part of, if any
    """

    amount: str
    amount_to_pay: str
    changed_at: datetime.datetime | None
    currency: None | str
    discount_amount: str
    hold_until: datetime.datetime | None
    id: str
    status: UsageRowStatus
    use: int
    used_at: datetime.datetime
    user: str
    allocations: list[Allocation] | None | Unset = UNSET
    cart: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        amount_to_pay = self.amount_to_pay

        changed_at: None | str
        if isinstance(self.changed_at, datetime.datetime):
            changed_at = self.changed_at.isoformat()
        else:
            changed_at = self.changed_at

        currency: None | str
        currency = self.currency

        discount_amount = self.discount_amount

        hold_until: None | str
        if isinstance(self.hold_until, datetime.datetime):
            hold_until = self.hold_until.isoformat()
        else:
            hold_until = self.hold_until

        id = self.id

        status = self.status.value

        use = self.use

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

        cart: None | str | Unset
        if isinstance(self.cart, Unset):
            cart = UNSET
        else:
            cart = self.cart

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount": amount,
                "amount_to_pay": amount_to_pay,
                "changed_at": changed_at,
                "currency": currency,
                "discount_amount": discount_amount,
                "hold_until": hold_until,
                "id": id,
                "status": status,
                "use": use,
                "used_at": used_at,
                "user": user,
            }
        )
        if allocations is not UNSET:
            field_dict["allocations"] = allocations
        if cart is not UNSET:
            field_dict["cart"] = cart

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.allocation import Allocation  # noqa: PLC0415

        d = dict(src_dict)
        amount = d.pop("amount")

        amount_to_pay = d.pop("amount_to_pay")

        def _parse_changed_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                changed_at_type_0 = datetime.datetime.fromisoformat(data)

                return changed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        changed_at = _parse_changed_at(d.pop("changed_at"))

        def _parse_currency(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        currency = _parse_currency(d.pop("currency"))

        discount_amount = d.pop("discount_amount")

        def _parse_hold_until(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                hold_until_type_0 = datetime.datetime.fromisoformat(data)

                return hold_until_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        hold_until = _parse_hold_until(d.pop("hold_until"))

        id = d.pop("id")

        status = UsageRowStatus(d.pop("status"))

        use = d.pop("use")

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

        def _parse_cart(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        cart = _parse_cart(d.pop("cart", UNSET))

        usage_row = cls(
            amount=amount,
            amount_to_pay=amount_to_pay,
            changed_at=changed_at,
            currency=currency,
            discount_amount=discount_amount,
            hold_until=hold_until,
            id=id,
            status=status,
            use=use,
            used_at=used_at,
            user=user,
            allocations=allocations,
            cart=cart,
        )

        usage_row.additional_properties = d
        return usage_row

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
