from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RuleOut")


@_attrs_define
class RuleOut:
    """A rule with every field: the ones not set are null, ``max_uses_per_user`` is 1 when not set.

    Attributes:
        amount_off (None | str):
        brand (str):
        budget (None | str):
        categories (list[str] | None):
        currency (None | str):
        discount (int | None):
        group (None | str):
        id (int):
        max_uses (int | None):
        max_uses_per_user (int):
        min_amount (None | str):
        priority (int):
        products (list[str] | None):
        stackable (bool):
        starts_at (datetime.datetime | None):
    """

    amount_off: None | str
    brand: str
    budget: None | str
    categories: list[str] | None
    currency: None | str
    discount: int | None
    group: None | str
    id: int
    max_uses: int | None
    max_uses_per_user: int
    min_amount: None | str
    priority: int
    products: list[str] | None
    stackable: bool
    starts_at: datetime.datetime | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount_off: None | str
        amount_off = self.amount_off

        brand = self.brand

        budget: None | str
        budget = self.budget

        categories: list[str] | None
        if isinstance(self.categories, list):
            categories = self.categories

        else:
            categories = self.categories

        currency: None | str
        currency = self.currency

        discount: int | None
        discount = self.discount

        group: None | str
        group = self.group

        id = self.id

        max_uses: int | None
        max_uses = self.max_uses

        max_uses_per_user = self.max_uses_per_user

        min_amount: None | str
        min_amount = self.min_amount

        priority = self.priority

        products: list[str] | None
        if isinstance(self.products, list):
            products = self.products

        else:
            products = self.products

        stackable = self.stackable

        starts_at: None | str
        if isinstance(self.starts_at, datetime.datetime):
            starts_at = self.starts_at.isoformat()
        else:
            starts_at = self.starts_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount_off": amount_off,
                "brand": brand,
                "budget": budget,
                "categories": categories,
                "currency": currency,
                "discount": discount,
                "group": group,
                "id": id,
                "max_uses": max_uses,
                "max_uses_per_user": max_uses_per_user,
                "min_amount": min_amount,
                "priority": priority,
                "products": products,
                "stackable": stackable,
                "starts_at": starts_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_amount_off(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        amount_off = _parse_amount_off(d.pop("amount_off"))

        brand = d.pop("brand")

        def _parse_budget(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        budget = _parse_budget(d.pop("budget"))

        def _parse_categories(data: object) -> list[str] | None:
            if data is None:
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                categories_type_0 = cast(list[str], data)

                return categories_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None, data)

        categories = _parse_categories(d.pop("categories"))

        def _parse_currency(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        currency = _parse_currency(d.pop("currency"))

        def _parse_discount(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        discount = _parse_discount(d.pop("discount"))

        def _parse_group(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        group = _parse_group(d.pop("group"))

        id = d.pop("id")

        def _parse_max_uses(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        max_uses = _parse_max_uses(d.pop("max_uses"))

        max_uses_per_user = d.pop("max_uses_per_user")

        def _parse_min_amount(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        min_amount = _parse_min_amount(d.pop("min_amount"))

        priority = d.pop("priority")

        def _parse_products(data: object) -> list[str] | None:
            if data is None:
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                products_type_0 = cast(list[str], data)

                return products_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None, data)

        products = _parse_products(d.pop("products"))

        stackable = d.pop("stackable")

        def _parse_starts_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                starts_at_type_0 = datetime.datetime.fromisoformat(data)

                return starts_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        starts_at = _parse_starts_at(d.pop("starts_at"))

        rule_out = cls(
            amount_off=amount_off,
            brand=brand,
            budget=budget,
            categories=categories,
            currency=currency,
            discount=discount,
            group=group,
            id=id,
            max_uses=max_uses,
            max_uses_per_user=max_uses_per_user,
            min_amount=min_amount,
            priority=priority,
            products=products,
            stackable=stackable,
            starts_at=starts_at,
        )

        rule_out.additional_properties = d
        return rule_out

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
