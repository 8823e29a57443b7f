from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="UserIn")


@_attrs_define
class UserIn:
    """
    Attributes:
        email (str):
        group (None | str | Unset):
        unsubscribed (bool | None | Unset): Stop (or resume) e-mail about new codes
    """

    email: str
    group: None | str | Unset = UNSET
    unsubscribed: bool | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        email = self.email

        group: None | str | Unset
        if isinstance(self.group, Unset):
            group = UNSET
        else:
            group = self.group

        unsubscribed: bool | None | Unset
        if isinstance(self.unsubscribed, Unset):
            unsubscribed = UNSET
        else:
            unsubscribed = self.unsubscribed

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "email": email,
            }
        )
        if group is not UNSET:
            field_dict["group"] = group
        if unsubscribed is not UNSET:
            field_dict["unsubscribed"] = unsubscribed

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        email = d.pop("email")

        def _parse_group(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        group = _parse_group(d.pop("group", UNSET))

        def _parse_unsubscribed(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        unsubscribed = _parse_unsubscribed(d.pop("unsubscribed", UNSET))

        user_in = cls(
            email=email,
            group=group,
            unsubscribed=unsubscribed,
        )

        return user_in
