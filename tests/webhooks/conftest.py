from __future__ import annotations

from collections.abc import Iterator

import pytest

from discounts.settings import Settings
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The tests' receivers listen on loopback, which a deployment's webhooks may not reach."""
    return settings.model_copy(update={"webhook_allow_private": True})
