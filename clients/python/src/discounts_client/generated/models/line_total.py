from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="LineTotal")


@_attrs_define
class LineTotal:
    """
    Attributes:
        discount (str): What every applied code took off this line together
        id (str):
        subtotal (str): price × quantity
        total (str): subtotal − discount, never below zero
    """

    discount: str
    id: str
    subtotal: str
    total: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        discount = self.discount

        id = self.id

        subtotal = self.subtotal

        total = self.total

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "discount": discount,
                "id": id,
                "subtotal": subtotal,
                "total": total,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        discount = d.pop("discount")

        id = d.pop("id")

        subtotal = d.pop("subtotal")

        total = d.pop("total")

        line_total = cls(
            discount=discount,
            id=id,
            subtotal=subtotal,
            total=total,
        )

        line_total.additional_properties = d
        return line_total

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
