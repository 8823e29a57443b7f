"""The live service the clients are tested against: ``discounts serve`` on a free port, its own data directory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from discounts.settings import Settings
from tests.conftest import SECRET, make_token
from tests.system.conftest import Server, cli_env

ROOT = Path(__file__).resolve().parents[2]
#: Signs the tests' tokens with the key the server gets from ``cli_env``.
SIGNER = Settings(jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
#: Misses allowed per principal: low, so that the guessing limit is reached in a few calls.
GUESS_LIMIT = "3/minute"


@dataclass(frozen=True)
class Live:
    url: str
    port: int

    def token(self, role: str, sub: str) -> str:
        return make_token(SIGNER, role, sub, brand=sub if role == "brand" else None)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for a module's tests (starting one takes seconds): each test uses brands and users of its own."""
    data = tmp_path_factory.mktemp("live") / "data"
    # Webhook receivers in the tests listen on loopback; serve's background worker delivers to them.
    server = Server(cli_env(data, DISCOUNTS_GUESS_LIMIT=GUESS_LIMIT, DISCOUNTS_WEBHOOK_ALLOW_PRIVATE="true"))
    try:
        yield Live(server.url, server.port)
    finally:
        log = server.stop()
    assert "Traceback" not in log, log
