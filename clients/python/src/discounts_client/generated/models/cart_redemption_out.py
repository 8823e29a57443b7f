from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.cart_redemption_out_status import CartRedemptionOutStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.line_total import LineTotal
    from ..models.redeemed_code import RedeemedCode


T = TypeVar("T", bound="CartRedemptionOut")


@_attrs_define
class CartRedemptionOut:
    """A cart redeemed all or nothing: every code is a usage, held or used together.

    Attributes:
        amount (str): The subtotals together
        amount_to_pay (str):
        applied (list[RedeemedCode]):
        currency (None | str): The request's currency (null when it named none)
        discount_amount (str): Every applied code's discount together
        id (str): The cart redemption's id: confirm or release it with it
        lines (list[LineTotal]):
        status (CartRedemptionOutStatus):
        used_at (datetime.datetime):
        user (str):
        hold_expires_at (datetime.datetime | None | Unset): Only for a hold: when it gives itself back
    """

    amount: str
    amount_to_pay: str
    applied: list[RedeemedCode]
    currency: None | str
    discount_amount: str
    id: str
    lines: list[LineTotal]
    status: CartRedemptionOutStatus
    used_at: datetime.datetime
    user: str
    hold_expires_at: datetime.datetime | None | Unset = UNSET
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

        id = self.id

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)

        status = self.status.value

        used_at = self.used_at.isoformat()

        user = self.user

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
                "applied": applied,
                "currency": currency,
                "discount_amount": discount_amount,
                "id": id,
                "lines": lines,
                "status": status,
                "used_at": used_at,
                "user": user,
            }
        )
        if hold_expires_at is not UNSET:
            field_dict["hold_expires_at"] = hold_expires_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.line_total import LineTotal  # noqa: PLC0415
        from ..models.redeemed_code import RedeemedCode  # noqa: PLC0415

        d = dict(src_dict)
        amount = d.pop("amount")

        amount_to_pay = d.pop("amount_to_pay")

        applied = []
        _applied = d.pop("applied")
        for applied_item_data in _applied:
            applied_item = RedeemedCode.from_dict(applied_item_data)

            applied.append(applied_item)

        def _parse_currency(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        currency = _parse_currency(d.pop("currency"))

        discount_amount = d.pop("discount_amount")

        id = d.pop("id")

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in _lines:
            lines_item = LineTotal.from_dict(lines_item_data)

            lines.append(lines_item)

        status = CartRedemptionOutStatus(d.pop("status"))

        used_at = datetime.datetime.fromisoformat(d.pop("used_at"))

        user = d.pop("user")

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

        cart_redemption_out = cls(
            amount=amount,
            amount_to_pay=amount_to_pay,
            applied=applied,
            currency=currency,
            discount_amount=discount_amount,
            id=id,
            lines=lines,
            status=status,
            used_at=used_at,
            user=user,
            hold_expires_at=hold_expires_at,
        )

        cart_redemption_out.additional_properties = d
        return cart_redemption_out

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
