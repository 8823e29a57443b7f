from enum import StrEnum


class BatchOutKind(StrEnum):
    GENERATED = "generated"
    IMPORTED = "imported"

    def __str__(self) -> str:
        return str(self.value)
