from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.fanout_progress_status import FanoutProgressStatus

T = TypeVar("T", bound="FanoutProgress")


@_attrs_define
class FanoutProgress:
    """How far the e-mailing of a new code has got.

    Attributes:
        code (str):
        failed (int): Addresses the mail server refused for good
        sent (int):
        skipped (int): Audience members who unsubscribed (for a batch, also any it had no code left for)
        status (FanoutProgressStatus):
        total (int | None): Audience size when sending started; null until then
    """

    code: str
    failed: int
    sent: int
    skipped: int
    status: FanoutProgressStatus
    total: int | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        failed = self.failed

        sent = self.sent

        skipped = self.skipped

        status = self.status.value

        total: int | None
        total = self.total

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "code": code,
                "failed": failed,
                "sent": sent,
                "skipped": skipped,
                "status": status,
                "total": total,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        failed = d.pop("failed")

        sent = d.pop("sent")

        skipped = d.pop("skipped")

        status = FanoutProgressStatus(d.pop("status"))

        def _parse_total(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        total = _parse_total(d.pop("total"))

        fanout_progress = cls(
            code=code,
            failed=failed,
            sent=sent,
            skipped=skipped,
            status=status,
            total=total,
        )

        fanout_progress.additional_properties = d
        return fanout_progress

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
