from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="CartItem")


@_attrs_define
class CartItem:
    """A cart line (API.md part 3); ``id`` defaults to the line's position in the list ("0", "1", …).

    Attributes:
        brand (str):
        price (str): A decimal string (or number) with at most 2 fraction digits
        quantity (int):
        categories (list[str] | Unset): Categories a rule's `categories` may name
        id (None | str | Unset): The line's id (default: its position, `"0"`, `"1"`, …)
        product (None | str | Unset): The product (SKU) a rule's `products` may name
    """

    brand: str
    price: str
    quantity: int
    categories: list[str] | Unset = UNSET
    id: None | str | Unset = UNSET
    product: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        brand = self.brand

        price = self.price

        quantity = self.quantity

        categories: list[str] | Unset = UNSET
        if not isinstance(self.categories, Unset):
            categories = self.categories

        id: None | str | Unset
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        product: None | str | Unset
        if isinstance(self.product, Unset):
            product = UNSET
        else:
            product = self.product

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "brand": brand,
                "price": price,
                "quantity": quantity,
            }
        )
        if categories is not UNSET:
            field_dict["categories"] = categories
        if id is not UNSET:
            field_dict["id"] = id
        if product is not UNSET:
            field_dict["product"] = product

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        brand = d.pop("brand")

        price = d.pop("price")

        quantity = d.pop("quantity")

        categories = cast(list[str], d.pop("categories", UNSET))

        def _parse_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        id = _parse_id(d.pop("id", UNSET))

        def _parse_product(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        product = _parse_product(d.pop("product", UNSET))

        cart_item = cls(
            brand=brand,
            price=price,
            quantity=quantity,
            categories=categories,
            id=id,
            product=product,
        )

        return cart_item
