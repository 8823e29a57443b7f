from enum import StrEnum


class CodeStatsState(StrEnum):
    ACTIVE = "active"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"
    SCHEDULED = "scheduled"

    def __str__(self) -> str:
        return str(self.value)
