from enum import StrEnum


class FanoutProgressStatus(StrEnum):
    DONE = "done"
    QUEUED = "queued"
    SENDING = "sending"

    def __str__(self) -> str:
        return str(self.value)
