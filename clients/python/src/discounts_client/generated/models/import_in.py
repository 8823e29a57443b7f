from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.rule_in import RuleIn


T = TypeVar("T", bound="ImportIn")


@_attrs_define
class ImportIn:
    """Codes a brand has already (from another platform), brought in whole or not at all.

    Attributes:
        codes (list[str]): The code strings (case-insensitive); none may exist already or appear twice
        rule (int | RuleIn): A new rule (with `max_uses: 1` unless it sets another), or the id of an existing rule, as
            it is
        validity (datetime.datetime): Last moment the codes can be used (ISO 8601 with offset)
    """

    codes: list[str]
    rule: int | RuleIn
    validity: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        from ..models.rule_in import RuleIn  # noqa: PLC0415

        codes = self.codes

        rule: dict[str, Any] | int
        if isinstance(self.rule, RuleIn):
            rule = self.rule.to_dict()
        else:
            rule = self.rule

        validity = self.validity.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "codes": codes,
                "rule": rule,
                "validity": validity,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.rule_in import RuleIn  # noqa: PLC0415

        d = dict(src_dict)
        codes = cast(list[str], d.pop("codes"))

        def _parse_rule(data: object) -> int | RuleIn:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                rule_type_0 = RuleIn.from_dict(data)

                return rule_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(int | RuleIn, data)

        rule = _parse_rule(d.pop("rule"))

        validity = datetime.datetime.fromisoformat(d.pop("validity"))

        import_in = cls(
            codes=codes,
            rule=rule,
            validity=validity,
        )

        return import_in
