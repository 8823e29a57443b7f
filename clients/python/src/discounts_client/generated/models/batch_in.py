from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.rule_in import RuleIn


T = TypeVar("T", bound="BatchIn")


@_attrs_define
class BatchIn:
    """``count`` single-use codes ``prefix`` + ``length`` random characters, generated in the background.

    Attributes:
        count (int): How many codes
        rule (int | RuleIn): A new rule (with `max_uses: 1` unless it sets another), or the id of an existing rule, as
            it is
        validity (datetime.datetime): Last moment the codes can be used (ISO 8601 with offset)
        distribute (bool | Unset): E-mail each user of the rule's audience (everyone, or its group) one distinct code of
            the batch; count must cover the audience Default: False.
        length (int | Unset): Random characters after the prefix (of 31: A-Z and 2-9 without O, I, L); 31^length must be
            at least 10^9 × count, and prefix + length at most 64 characters Default: 12.
        prefix (None | str | Unset): Put before every code (stored upper-case)
    """

    count: int
    rule: int | RuleIn
    validity: datetime.datetime
    distribute: bool | Unset = False
    length: int | Unset = 12
    prefix: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.rule_in import RuleIn  # noqa: PLC0415

        count = self.count

        rule: dict[str, Any] | int
        if isinstance(self.rule, RuleIn):
            rule = self.rule.to_dict()
        else:
            rule = self.rule

        validity = self.validity.isoformat()

        distribute = self.distribute

        length = self.length

        prefix: None | str | Unset
        if isinstance(self.prefix, Unset):
            prefix = UNSET
        else:
            prefix = self.prefix

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "count": count,
                "rule": rule,
                "validity": validity,
            }
        )
        if distribute is not UNSET:
            field_dict["distribute"] = distribute
        if length is not UNSET:
            field_dict["length"] = length
        if prefix is not UNSET:
            field_dict["prefix"] = prefix

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.rule_in import RuleIn  # noqa: PLC0415

        d = dict(src_dict)
        count = d.pop("count")

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

        distribute = d.pop("distribute", UNSET)

        length = d.pop("length", UNSET)

        def _parse_prefix(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        prefix = _parse_prefix(d.pop("prefix", UNSET))

        batch_in = cls(
            count=count,
            rule=rule,
            validity=validity,
            distribute=distribute,
            length=length,
            prefix=prefix,
        )

        return batch_in
