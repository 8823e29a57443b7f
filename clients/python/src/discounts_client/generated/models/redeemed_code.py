from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.allocation import Allocation


T = TypeVar("T", bound="RedeemedCode")


@_attrs_define
class RedeemedCode:
    """
    Attributes:
        allocations (list[Allocation]): Where its discount lands, line by line; sums to it exactly
        brand (str):
        code (str):
        discount_amount (str):
        usage (str): The id of this code's usage: a usage like any other (it can be given back alone)
        amount_off (None | str | Unset): The fixed amount off (fixed-amount rules only)
        currency (None | str | Unset): The fixed amount's currency
        discount (int | None | Unset): Percent off (percent rules only)
    """

    allocations: list[Allocation]
    brand: str
    code: str
    discount_amount: str
    usage: str
    amount_off: None | str | Unset = UNSET
    currency: None | str | Unset = UNSET
    discount: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        allocations = []
        for allocations_item_data in self.allocations:
            allocations_item = allocations_item_data.to_dict()
            allocations.append(allocations_item)

        brand = self.brand

        code = self.code

        discount_amount = self.discount_amount

        usage = self.usage

        amount_off: None | str | Unset
        if isinstance(self.amount_off, Unset):
            amount_off = UNSET
        else:
            amount_off = self.amount_off

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
                "allocations": allocations,
                "brand": brand,
                "code": code,
                "discount_amount": discount_amount,
                "usage": usage,
            }
        )
        if amount_off is not UNSET:
            field_dict["amount_off"] = amount_off
        if currency is not UNSET:
            field_dict["currency"] = currency
        if discount is not UNSET:
            field_dict["discount"] = discount

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.allocation import Allocation  # noqa: PLC0415

        d = dict(src_dict)
        allocations = []
        _allocations = d.pop("allocations")
        for allocations_item_data in _allocations:
            allocations_item = Allocation.from_dict(allocations_item_data)

            allocations.append(allocations_item)

        brand = d.pop("brand")

        code = d.pop("code")

        discount_amount = d.pop("discount_amount")

        usage = d.pop("usage")

        def _parse_amount_off(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_off = _parse_amount_off(d.pop("amount_off", UNSET))

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

        redeemed_code = cls(
            allocations=allocations,
            brand=brand,
            code=code,
            discount_amount=discount_amount,
            usage=usage,
            amount_off=amount_off,
            currency=currency,
            discount=discount,
        )

        redeemed_code.additional_properties = d
        return redeemed_code

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
