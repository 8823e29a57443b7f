from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.progress_status import ProgressStatus

T = TypeVar("T", bound="Progress")


@_attrs_define
class Progress:
    """How far an e-mailing has got (counts are summed over its chunks).

    Attributes:
        failed (int): Addresses the mail server refused for good
        sent (int):
        skipped (int): Audience members who unsubscribed (for a batch, also any it had no code left for)
        status (ProgressStatus):
        total (int | None): Audience size when sending started; null until then
    """

    failed: int
    sent: int
    skipped: int
    status: ProgressStatus
    total: int | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
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
        failed = d.pop("failed")

        sent = d.pop("sent")

        skipped = d.pop("skipped")

        status = ProgressStatus(d.pop("status"))

        def _parse_total(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        total = _parse_total(d.pop("total"))

        progress = cls(
            failed=failed,
            sent=sent,
            skipped=skipped,
            status=status,
            total=total,
        )

        progress.additional_properties = d
        return progress

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
