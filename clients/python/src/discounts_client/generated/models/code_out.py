from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.rule_out import RuleOut


T = TypeVar("T", bound="CodeOut")


@_attrs_define
class CodeOut:
    """
    Attributes:
        created_at (datetime.datetime):
        hash_ (str):
        id (str):
        rule (RuleOut): A rule with every field: the ones not set are null, ``max_uses_per_user`` is 1 when not set.
        validity (datetime.datetime):
    """

    created_at: datetime.datetime
    hash_: str
    id: str
    rule: RuleOut
    validity: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        hash_ = self.hash_

        id = self.id

        rule = self.rule.to_dict()

        validity = self.validity.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "hash": hash_,
                "id": id,
                "rule": rule,
                "validity": validity,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.rule_out import RuleOut  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        hash_ = d.pop("hash")

        id = d.pop("id")

        rule = RuleOut.from_dict(d.pop("rule"))

        validity = datetime.datetime.fromisoformat(d.pop("validity"))

        code_out = cls(
            created_at=created_at,
            hash_=hash_,
            id=id,
            rule=rule,
            validity=validity,
        )

        code_out.additional_properties = d
        return code_out

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
