from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.applied_code import AppliedCode
    from ..models.line_total import LineTotal
    from ..models.rejected_code import RejectedCode


T = TypeVar("T", bound="CartQuoteOut")


@_attrs_define
class CartQuoteOut:
    """The cart priced: the codes applied in order, each refused one with its reason; nothing recorded.

    Attributes:
        amount (str): The subtotals together
        amount_to_pay (str):
        applied (list[AppliedCode]): In the order applied: ascending priority, then the request's
        currency (None | str): The request's currency (null when it named none)
        discount_amount (str): Every applied code's discount together
        lines (list[LineTotal]):
        rejected (list[RejectedCode]): Refused codes in the order of the request (maybe empty)
        user (str):
    """

    amount: str
    amount_to_pay: str
    applied: list[AppliedCode]
    currency: None | str
    discount_amount: str
    lines: list[LineTotal]
    rejected: list[RejectedCode]
    user: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        amount_to_pay = self.amount_to_pay

        applied = []
        for applied_item_data in self.applied:
            applied_item = applied_item_data.to_dict()
            applied.append(applied_item)

        currency: None | str
        currency = self.currency

        discount_amount = self.discount_amount

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)

        rejected = []
        for rejected_item_data in self.rejected:
            rejected_item = rejected_item_data.to_dict()
            rejected.append(rejected_item)

        user = self.user

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount": amount,
                "amount_to_pay": amount_to_pay,
                "applied": applied,
                "currency": currency,
                "discount_amount": discount_amount,
                "lines": lines,
                "rejected": rejected,
                "user": user,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.applied_code import AppliedCode  # noqa: PLC0415
        from ..models.line_total import LineTotal  # noqa: PLC0415
        from ..models.rejected_code import RejectedCode  # noqa: PLC0415

        d = dict(src_dict)
        amount = d.pop("amount")

        amount_to_pay = d.pop("amount_to_pay")

        applied = []
        _applied = d.pop("applied")
        for applied_item_data in _applied:
            applied_item = AppliedCode.from_dict(applied_item_data)

            applied.append(applied_item)

        def _parse_currency(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        currency = _parse_currency(d.pop("currency"))

        discount_amount = d.pop("discount_amount")

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in _lines:
            lines_item = LineTotal.from_dict(lines_item_data)

            lines.append(lines_item)

        rejected = []
        _rejected = d.pop("rejected")
        for rejected_item_data in _rejected:
            rejected_item = RejectedCode.from_dict(rejected_item_data)

            rejected.append(rejected_item)

        user = d.pop("user")

        cart_quote_out = cls(
            amount=amount,
            amount_to_pay=amount_to_pay,
            applied=applied,
            currency=currency,
            discount_amount=discount_amount,
            lines=lines,
            rejected=rejected,
            user=user,
        )

        cart_quote_out.additional_properties = d
        return cart_quote_out

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
