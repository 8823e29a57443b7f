"""Configuration from the environment: URL normalisation, refused secrets, the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from discounts.settings import Settings


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://app@db/discounts", "postgresql+asyncpg://app@db/discounts"),
        ("postgresql://app@db/discounts", "postgresql+asyncpg://app@db/discounts"),
        ("postgresql+asyncpg://app@db/discounts", "postgresql+asyncpg://app@db/discounts"),
        ("sqlite:////var/lib/discounts.db", "sqlite+aiosqlite:////var/lib/discounts.db"),
    ],
)
def test_database_urls_get_their_async_driver(given: str, used: str) -> None:
    assert Settings(database_url=given, _env_file=None).resolved_database_url == used  # type: ignore[call-arg]


def test_the_embedded_default_lives_in_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", _env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'd' / 'discounts.sqlite3'}"
    assert settings.resolved_usage_store_url == f"sqlite:///{tmp_path / 'd' / 'usages.sqlite3'}"
    assert settings.maildir == tmp_path / "d" / "maildir"


@pytest.mark.parametrize("secret", ["", "changethis", "Secret"])
def test_well_known_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValidationError):
        Settings(jwt_secret=secret, _env_file=None)  # type: ignore[call-arg]


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DISCOUNTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DISCOUNTS_RATE_LIMIT", "5/second")
    settings = Settings()
    assert (settings.data_dir, settings.rate_limit) == (tmp_path, "5/second")


def test_retention_days_default_to_thirty_and_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCOUNTS_EVENT_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("DISCOUNTS_WEBHOOK_RETENTION_DAYS", raising=False)
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (default.event_retention_days, default.webhook_retention_days) == (30, 30)
    monkeypatch.setenv("DISCOUNTS_EVENT_RETENTION_DAYS", " 7 ")
    monkeypatch.setenv("DISCOUNTS_WEBHOOK_RETENTION_DAYS", "36500")
    configured = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (configured.event_retention_days, configured.webhook_retention_days) == (7, 36500)


@pytest.mark.parametrize("variable", ["DISCOUNTS_EVENT_RETENTION_DAYS", "DISCOUNTS_WEBHOOK_RETENTION_DAYS"])
@pytest.mark.parametrize("given", ["0", "-3", "1.5", "thirty", "", "36501"])
def test_a_retention_that_is_not_a_positive_whole_number_of_days_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, given: str
) -> None:
    monkeypatch.setenv(variable, given)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert f"{variable} must be a whole number of days from 1 to 36500, not {given!r}" in str(refused.value)
