from enum import StrEnum


class EndpointInEventsType0Item(StrEnum):
    BATCH_DONE = "batch.done"
    CODE_CREATED = "code.created"
    CODE_EXHAUSTED = "code.exhausted"
    USAGE_HELD = "usage.held"
    USAGE_RELEASED = "usage.released"
    USAGE_USED = "usage.used"

    def __str__(self) -> str:
        return str(self.value)
