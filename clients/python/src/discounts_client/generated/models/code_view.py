from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.rule_out import RuleOut


T = TypeVar("T", bound="CodeView")


@_attrs_define
class CodeView:
    """A fetched code: whether it expired and, for a user, whether they used it.

    Attributes:
        created_at (datetime.datetime):
        expired (bool):
        hash_ (str):
        id (str):
        rule (RuleOut): A rule with every field: the ones not set are null, ``max_uses_per_user`` is 1 when not set.
        validity (datetime.datetime):
        used (bool | None | Unset): Whether the calling user has used it (only for users)
    """

    created_at: datetime.datetime
    expired: bool
    hash_: str
    id: str
    rule: RuleOut
    validity: datetime.datetime
    used: bool | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        expired = self.expired

        hash_ = self.hash_

        id = self.id

        rule = self.rule.to_dict()

        validity = self.validity.isoformat()

        used: bool | None | Unset
        if isinstance(self.used, Unset):
            used = UNSET
        else:
            used = self.used

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "expired": expired,
                "hash": hash_,
                "id": id,
                "rule": rule,
                "validity": validity,
            }
        )
        if used is not UNSET:
            field_dict["used"] = used

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.rule_out import RuleOut  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        expired = d.pop("expired")

        hash_ = d.pop("hash")

        id = d.pop("id")

        rule = RuleOut.from_dict(d.pop("rule"))

        validity = datetime.datetime.fromisoformat(d.pop("validity"))

        def _parse_used(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        used = _parse_used(d.pop("used", UNSET))

        code_view = cls(
            created_at=created_at,
            expired=expired,
            hash_=hash_,
            id=id,
            rule=rule,
            validity=validity,
            used=used,
        )

        code_view.additional_properties = d
        return code_view

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
