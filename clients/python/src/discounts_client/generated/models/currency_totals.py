from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="CurrencyTotals")


@_attrs_define
class CurrencyTotals:
    """A code's confirmed uses in one currency (an order may name none: a percent rule takes any).

    Attributes:
        amount (str): The orders' amounts together
        currency (None | str):
        discount_amount (str): The discount given
        uses (int):
    """

    amount: str
    currency: None | str
    discount_amount: str
    uses: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        currency: None | str
        currency = self.currency

        discount_amount = self.discount_amount

        uses = self.uses

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount": amount,
                "currency": currency,
                "discount_amount": discount_amount,
                "uses": uses,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        amount = d.pop("amount")

        def _parse_currency(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        currency = _parse_currency(d.pop("currency"))

        discount_amount = d.pop("discount_amount")

        uses = d.pop("uses")

        currency_totals = cls(
            amount=amount,
            currency=currency,
            discount_amount=discount_amount,
            uses=uses,
        )

        currency_totals.additional_properties = d
        return currency_totals

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
