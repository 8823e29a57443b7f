from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.rule_in import RuleIn


T = TypeVar("T", bound="CodeIn")


@_attrs_define
class CodeIn:
    """
    Attributes:
        id (str): The code string, e.g. SPRINGSALE2022 (case-insensitive)
        rule (int | RuleIn): A new rule, or the id of an existing rule of the same brand
        validity (datetime.datetime): Last moment the code can be used (ISO 8601 with offset); in the future when it is
            created
    """

    id: str
    rule: int | RuleIn
    validity: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        from ..models.rule_in import RuleIn  # noqa: PLC0415

        id = self.id

        rule: dict[str, Any] | int
        if isinstance(self.rule, RuleIn):
            rule = self.rule.to_dict()
        else:
            rule = self.rule

        validity = self.validity.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "rule": rule,
                "validity": validity,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.rule_in import RuleIn  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

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

        code_in = cls(
            id=id,
            rule=rule,
            validity=validity,
        )

        return code_in
