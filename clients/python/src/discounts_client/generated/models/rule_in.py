from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="RuleIn")


@_attrs_define
class RuleIn:
    """Exactly one kind of discount (``discount`` or ``amount_off``); every limit is optional.

    Attributes:
        brand (str):
        amount_off (None | str | Unset): A fixed amount off, in `currency`
        budget (None | str | Unset): Total discount given over all uses
        categories (list[str] | None | Unset): Only its brand's lines with one of these categories (with `products`:
            either)
        currency (None | str | Unset): ISO 4217, required with `amount_off`
        discount (int | None | Unset):
        group (None | str | Unset): Only users of this group may use it and are e-mailed
        max_uses (int | None | Unset): Total uses by all users together
        max_uses_per_user (int | None | Unset): Uses per user (1 when not set)
        min_amount (None | str | Unset): The eligible amount must be at least this
        priority (int | Unset): Codes of a cart are applied in ascending priority Default: 100.
        products (list[str] | None | Unset): Only its brand's lines with one of these products (with `categories`:
            either)
        stackable (bool | Unset): May be combined with another code of the same brand on the same lines Default: False.
        starts_at (datetime.datetime | None | Unset): First moment the code can be used
    """

    brand: str
    amount_off: None | str | Unset = UNSET
    budget: None | str | Unset = UNSET
    categories: list[str] | None | Unset = UNSET
    currency: None | str | Unset = UNSET
    discount: int | None | Unset = UNSET
    group: None | str | Unset = UNSET
    max_uses: int | None | Unset = UNSET
    max_uses_per_user: int | None | Unset = UNSET
    min_amount: None | str | Unset = UNSET
    priority: int | Unset = 100
    products: list[str] | None | Unset = UNSET
    stackable: bool | Unset = False
    starts_at: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        brand = self.brand

        amount_off: None | str | Unset
        if isinstance(self.amount_off, Unset):
            amount_off = UNSET
        else:
            amount_off = self.amount_off

        budget: None | str | Unset
        if isinstance(self.budget, Unset):
            budget = UNSET
        else:
            budget = self.budget

        categories: list[str] | None | Unset
        if isinstance(self.categories, Unset):
            categories = UNSET
        elif isinstance(self.categories, list):
            categories = self.categories

        else:
            categories = self.categories

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

        group: None | str | Unset
        if isinstance(self.group, Unset):
            group = UNSET
        else:
            group = self.group

        max_uses: int | None | Unset
        if isinstance(self.max_uses, Unset):
            max_uses = UNSET
        else:
            max_uses = self.max_uses

        max_uses_per_user: int | None | Unset
        if isinstance(self.max_uses_per_user, Unset):
            max_uses_per_user = UNSET
        else:
            max_uses_per_user = self.max_uses_per_user

        min_amount: None | str | Unset
        if isinstance(self.min_amount, Unset):
            min_amount = UNSET
        else:
            min_amount = self.min_amount

        priority = self.priority

        products: list[str] | None | Unset
        if isinstance(self.products, Unset):
            products = UNSET
        elif isinstance(self.products, list):
            products = self.products

        else:
            products = self.products

        stackable = self.stackable

        starts_at: None | str | Unset
        if isinstance(self.starts_at, Unset):
            starts_at = UNSET
        elif isinstance(self.starts_at, datetime.datetime):
            starts_at = self.starts_at.isoformat()
        else:
            starts_at = self.starts_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "brand": brand,
            }
        )
        if amount_off is not UNSET:
            field_dict["amount_off"] = amount_off
        if budget is not UNSET:
            field_dict["budget"] = budget
        if categories is not UNSET:
            field_dict["categories"] = categories
        if currency is not UNSET:
            field_dict["currency"] = currency
        if discount is not UNSET:
            field_dict["discount"] = discount
        if group is not UNSET:
            field_dict["group"] = group
        if max_uses is not UNSET:
            field_dict["max_uses"] = max_uses
        if max_uses_per_user is not UNSET:
            field_dict["max_uses_per_user"] = max_uses_per_user
        if min_amount is not UNSET:
            field_dict["min_amount"] = min_amount
        if priority is not UNSET:
            field_dict["priority"] = priority
        if products is not UNSET:
            field_dict["products"] = products
        if stackable is not UNSET:
            field_dict["stackable"] = stackable
        if starts_at is not UNSET:
            field_dict["starts_at"] = starts_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        brand = d.pop("brand")

        def _parse_amount_off(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_off = _parse_amount_off(d.pop("amount_off", UNSET))

        def _parse_budget(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        budget = _parse_budget(d.pop("budget", UNSET))

        def _parse_categories(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                categories_type_0 = cast(list[str], data)

                return categories_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        categories = _parse_categories(d.pop("categories", UNSET))

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

        def _parse_group(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        group = _parse_group(d.pop("group", UNSET))

        def _parse_max_uses(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_uses = _parse_max_uses(d.pop("max_uses", UNSET))

        def _parse_max_uses_per_user(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_uses_per_user = _parse_max_uses_per_user(d.pop("max_uses_per_user", UNSET))

        def _parse_min_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        min_amount = _parse_min_amount(d.pop("min_amount", UNSET))

        priority = d.pop("priority", UNSET)

        def _parse_products(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                products_type_0 = cast(list[str], data)

                return products_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        products = _parse_products(d.pop("products", UNSET))

        stackable = d.pop("stackable", UNSET)

        def _parse_starts_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                starts_at_type_0 = datetime.datetime.fromisoformat(data)

                return starts_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        starts_at = _parse_starts_at(d.pop("starts_at", UNSET))

        rule_in = cls(
            brand=brand,
            amount_off=amount_off,
            budget=budget,
            categories=categories,
            currency=currency,
            discount=discount,
            group=group,
            max_uses=max_uses,
            max_uses_per_user=max_uses_per_user,
            min_amount=min_amount,
            priority=priority,
            products=products,
            stackable=stackable,
            starts_at=starts_at,
        )

        return rule_in
