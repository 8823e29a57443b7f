from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="CartItem")


@_attrs_define
class CartItem:
    """
    Attributes:
        brand (str):
        price (str): A decimal string (or number) with at most 2 fraction digits
        quantity (int):
    """

    brand: str
    price: str
    quantity: int

    def to_dict(self) -> dict[str, Any]:
        brand = self.brand

        price = self.price

        quantity = self.quantity

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "brand": brand,
                "price": price,
                "quantity": quantity,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        brand = d.pop("brand")

        price = d.pop("price")

        quantity = d.pop("quantity")

        cart_item = cls(
            brand=brand,
            price=price,
            quantity=quantity,
        )

        return cart_item
