from enum import StrEnum


class UsageRowStatus(StrEnum):
    EXPIRED = "expired"
    HELD = "held"
    RELEASED = "released"
    ROLLED_BACK = "rolled_back"
    USED = "used"

    def __str__(self) -> str:
        return str(self.value)
