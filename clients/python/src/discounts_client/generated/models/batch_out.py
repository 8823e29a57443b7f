from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.batch_out_kind import BatchOutKind
from ..models.batch_out_status import BatchOutStatus

if TYPE_CHECKING:
    from ..models.progress import Progress
    from ..models.rule_out import RuleOut


T = TypeVar("T", bound="BatchOut")


@_attrs_define
class BatchOut:
    """
    Attributes:
        count (int):
        created_at (datetime.datetime):
        distribute (bool):
        distribution (None | Progress): The e-mailing of its codes; null unless `distribute`
        error (None | str): Why the batch failed; null otherwise
        finished_at (datetime.datetime | None):
        generated (int): Codes made so far; `count` once `done`
        id (str): The batch's id
        kind (BatchOutKind):
        length (int | None): Generated codes: their random characters; null for an import
        prefix (None | str): Generated codes: their prefix (may be empty); null for an import
        rule (RuleOut): A rule with every field: the ones not set are null, ``max_uses_per_user`` is 1 when not set.
        status (BatchOutStatus):
        validity (datetime.datetime):
    """

    count: int
    created_at: datetime.datetime
    distribute: bool
    distribution: None | Progress
    error: None | str
    finished_at: datetime.datetime | None
    generated: int
    id: str
    kind: BatchOutKind
    length: int | None
    prefix: None | str
    rule: RuleOut
    status: BatchOutStatus
    validity: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.progress import Progress  # noqa: PLC0415

        count = self.count

        created_at = self.created_at.isoformat()

        distribute = self.distribute

        distribution: dict[str, Any] | None
        if isinstance(self.distribution, Progress):
            distribution = self.distribution.to_dict()
        else:
            distribution = self.distribution

        error: None | str
        error = self.error

        finished_at: None | str
        if isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        generated = self.generated

        id = self.id

        kind = self.kind.value

        length: int | None
        length = self.length

        prefix: None | str
        prefix = self.prefix

        rule = self.rule.to_dict()

        status = self.status.value

        validity = self.validity.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "count": count,
                "created_at": created_at,
                "distribute": distribute,
                "distribution": distribution,
                "error": error,
                "finished_at": finished_at,
                "generated": generated,
                "id": id,
                "kind": kind,
                "length": length,
                "prefix": prefix,
                "rule": rule,
                "status": status,
                "validity": validity,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.progress import Progress  # noqa: PLC0415
        from ..models.rule_out import RuleOut  # noqa: PLC0415

        d = dict(src_dict)
        count = d.pop("count")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        distribute = d.pop("distribute")

        def _parse_distribution(data: object) -> None | Progress:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                distribution_type_0 = Progress.from_dict(data)

                return distribution_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Progress, data)

        distribution = _parse_distribution(d.pop("distribution"))

        def _parse_error(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        error = _parse_error(d.pop("error"))

        def _parse_finished_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        finished_at = _parse_finished_at(d.pop("finished_at"))

        generated = d.pop("generated")

        id = d.pop("id")

        kind = BatchOutKind(d.pop("kind"))

        def _parse_length(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        length = _parse_length(d.pop("length"))

        def _parse_prefix(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        prefix = _parse_prefix(d.pop("prefix"))

        rule = RuleOut.from_dict(d.pop("rule"))

        status = BatchOutStatus(d.pop("status"))

        validity = datetime.datetime.fromisoformat(d.pop("validity"))

        batch_out = cls(
            count=count,
            created_at=created_at,
            distribute=distribute,
            distribution=distribution,
            error=error,
            finished_at=finished_at,
            generated=generated,
            id=id,
            kind=kind,
            length=length,
            prefix=prefix,
            rule=rule,
            status=status,
            validity=validity,
        )

        batch_out.additional_properties = d
        return batch_out

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
