from enum import StrEnum


class RedemptionOutStatus(StrEnum):
    HELD = "held"
    USED = "used"

    def __str__(self) -> str:
        return str(self.value)
