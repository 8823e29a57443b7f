from enum import StrEnum


class ProgressStatus(StrEnum):
    DONE = "done"
    QUEUED = "queued"
    SENDING = "sending"

    def __str__(self) -> str:
        return str(self.value)
