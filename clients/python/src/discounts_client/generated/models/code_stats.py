from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.code_stats_state import CodeStatsState

if TYPE_CHECKING:
    from ..models.currency_totals import CurrencyTotals
    from ..models.uses_in import UsesIn


T = TypeVar("T", bound="CodeStats")


@_attrs_define
class CodeStats:
    """What a code has done, from the durable ledger (a second or so behind the redemptions).

    Attributes:
        as_of (datetime.datetime):
        budget (None | str):
        budget_left (None | str): `budget` less the discount of uses and holds; null without one
        code (str):
        daily (list[UsesIn]): Uses per day (UTC) from the code's creation to today, with zeros
        discount_given (str): Discount of every confirmed use, all currencies together
        holds (int): Checkout holds in progress (not ended, not confirmed, not released)
        hourly (list[UsesIn]): Uses per hour over the last `hours` hours, oldest first, with zeros
        max_uses (int | None):
        released (int): Holds given back before they were confirmed
        rolled_back (int): Uses given back
        state (CodeStatsState): `expired` past its validity; `exhausted` when its uses reached `max_uses` or the
            discount given its `budget`; `scheduled` before its rule's `starts_at`; else `active`
        totals (list[CurrencyTotals]): Confirmed uses per currency
        uses (int): Confirmed uses (a use rolled back no longer counts)
        uses_left (int | None): `max_uses` less uses and holds; null without `max_uses`
    """

    as_of: datetime.datetime
    budget: None | str
    budget_left: None | str
    code: str
    daily: list[UsesIn]
    discount_given: str
    holds: int
    hourly: list[UsesIn]
    max_uses: int | None
    released: int
    rolled_back: int
    state: CodeStatsState
    totals: list[CurrencyTotals]
    uses: int
    uses_left: int | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        as_of = self.as_of.isoformat()

        budget: None | str
        budget = self.budget

        budget_left: None | str
        budget_left = self.budget_left

        code = self.code

        daily = []
        for daily_item_data in self.daily:
            daily_item = daily_item_data.to_dict()
            daily.append(daily_item)

        discount_given = self.discount_given

        holds = self.holds

        hourly = []
        for hourly_item_data in self.hourly:
            hourly_item = hourly_item_data.to_dict()
            hourly.append(hourly_item)

        max_uses: int | None
        max_uses = self.max_uses

        released = self.released

        rolled_back = self.rolled_back

        state = self.state.value

        totals = []
        for totals_item_data in self.totals:
            totals_item = totals_item_data.to_dict()
            totals.append(totals_item)

        uses = self.uses

        uses_left: int | None
        uses_left = self.uses_left

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "as_of": as_of,
                "budget": budget,
                "budget_left": budget_left,
                "code": code,
                "daily": daily,
                "discount_given": discount_given,
                "holds": holds,
                "hourly": hourly,
                "max_uses": max_uses,
                "released": released,
                "rolled_back": rolled_back,
                "state": state,
                "totals": totals,
                "uses": uses,
                "uses_left": uses_left,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.currency_totals import CurrencyTotals  # noqa: PLC0415
        from ..models.uses_in import UsesIn  # noqa: PLC0415

        d = dict(src_dict)
        as_of = datetime.datetime.fromisoformat(d.pop("as_of"))

        def _parse_budget(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        budget = _parse_budget(d.pop("budget"))

        def _parse_budget_left(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        budget_left = _parse_budget_left(d.pop("budget_left"))

        code = d.pop("code")

        daily = []
        _daily = d.pop("daily")
        for daily_item_data in _daily:
            daily_item = UsesIn.from_dict(daily_item_data)

            daily.append(daily_item)

        discount_given = d.pop("discount_given")

        holds = d.pop("holds")

        hourly = []
        _hourly = d.pop("hourly")
        for hourly_item_data in _hourly:
            hourly_item = UsesIn.from_dict(hourly_item_data)

            hourly.append(hourly_item)

        def _parse_max_uses(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        max_uses = _parse_max_uses(d.pop("max_uses"))

        released = d.pop("released")

        rolled_back = d.pop("rolled_back")

        state = CodeStatsState(d.pop("state"))

        totals = []
        _totals = d.pop("totals")
        for totals_item_data in _totals:
            totals_item = CurrencyTotals.from_dict(totals_item_data)

            totals.append(totals_item)

        uses = d.pop("uses")

        def _parse_uses_left(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        uses_left = _parse_uses_left(d.pop("uses_left"))

        code_stats = cls(
            as_of=as_of,
            budget=budget,
            budget_left=budget_left,
            code=code,
            daily=daily,
            discount_given=discount_given,
            holds=holds,
            hourly=hourly,
            max_uses=max_uses,
            released=released,
            rolled_back=rolled_back,
            state=state,
            totals=totals,
            uses=uses,
            uses_left=uses_left,
        )

        code_stats.additional_properties = d
        return code_stats

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
