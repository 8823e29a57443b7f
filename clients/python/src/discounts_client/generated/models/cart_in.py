from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.cart_item import CartItem


T = TypeVar("T", bound="CartIn")


@_attrs_define
class CartIn:
    """A marketplace cart and the codes the shopper brings (of one brand or several).

    Attributes:
        codes (list[str]): 1 to 10 code strings, any case, each once
        lines (list[CartItem]): 1 to 1,000 lines
        user (str):
        currency (None | str | Unset): The order's currency; required by a rule that has one
    """

    codes: list[str]
    lines: list[CartItem]
    user: str
    currency: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        codes = self.codes

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)

        user = self.user

        currency: None | str | Unset
        if isinstance(self.currency, Unset):
            currency = UNSET
        else:
            currency = self.currency

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "codes": codes,
                "lines": lines,
                "user": user,
            }
        )
        if currency is not UNSET:
            field_dict["currency"] = currency

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cart_item import CartItem  # noqa: PLC0415

        d = dict(src_dict)
        codes = cast(list[str], d.pop("codes"))

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in _lines:
            lines_item = CartItem.from_dict(lines_item_data)

            lines.append(lines_item)

        user = d.pop("user")

        def _parse_currency(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        currency = _parse_currency(d.pop("currency", UNSET))

        cart_in = cls(
            codes=codes,
            lines=lines,
            user=user,
            currency=currency,
        )

        return cart_in
