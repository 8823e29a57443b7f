"""Configuration, read once from ``DISCOUNTS_*`` environment variables.

The embedded default needs no configuration at all: everything lives in one data
directory. Each URL that is left unset falls back to a file in that directory.
"""

from __future__ import annotations

import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

#: Secrets that appear in examples everywhere; refusing them stops a copy-paste deployment.
KNOWN_DEFAULT_SECRETS = frozenset({"changethis", "changeme", "secret", "your-secret-key"})


#: Plain URL schemes people paste, and the async drivers the service runs them with.
ASYNC_DRIVERS = {
    "postgres://": "postgresql+asyncpg://",
    "postgresql://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}

#: The longest retention a setting in days accepts (a century; ``now - days`` stays a valid date).
MAX_RETENTION_DAYS = 36_500


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISCOUNTS_", extra="ignore")

    data_dir: Path = Path(".discounts")
    database_url: str | None = None
    usage_store_url: str | None = None
    #: At most 28 days: a validity may be as late as the end of November 9999, and its usages' end a date.
    usage_grace_seconds: int = Field(default=7 * 24 * 3600, ge=0, le=28 * 24 * 3600)
    #: Redis: stream shards (one hash slot each) a code's usages spread over; fixed once data exists.
    usage_shards: int = Field(default=64, ge=1, le=16384)
    #: Redis: usages per bucket hash before a code's next level opens; <= hash-max-listpack-entries.
    usage_bucket_capacity: int = Field(default=128, ge=2, le=100_000)
    #: Redis: stream entries a consumer holds this long un-acknowledged are handed to another one.
    usage_claim_idle_seconds: float = Field(default=60.0, gt=0)
    #: Redis: prefix of every key, so that deployments sharing one Redis stay apart.
    usage_namespace: str = Field(default="du", pattern=r"^[A-Za-z0-9._-]{1,32}$")
    #: Redis: commands in flight per process (a cluster client refuses more connections than it pools).
    usage_max_connections: int = Field(default=64, ge=1, le=10_000)
    #: Redis: a write (claim, confirm, give-back) is acknowledged only once this many replicas have it
    #: (``WAIT``), so a failover to a replica loses no acknowledged usage. 0: the primary alone.
    usage_min_replicas: int = Field(default=0, ge=0, le=16)
    #: Redis: how long a write waits for those replicas before it is refused with a 503.
    usage_replica_timeout_ms: int = Field(default=500, ge=1, le=60_000)
    broker_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "Discounts <no-reply@discounts.localhost>"
    #: Base of the links in e-mails. Left unset, ``serve`` sets it to the address it listens on
    #: (and hands that to its API processes and worker); other processes use this default.
    public_url: str = "http://127.0.0.1:8000"
    templates_dir: Path | None = None

    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_private_key: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0)

    rate_limit: str = "1000/minute"
    #: Misses (404 code_not_found) allowed per principal, then every lookup, quote and redemption is 429.
    guess_limit: str = "20/minute"
    #: The same per client address, against many accounts guessing from one place.
    guess_limit_per_address: str = "200/minute"
    #: How long a checkout hold (``"hold": true``) lasts before it gives everything back by itself.
    hold_seconds: int = Field(default=900, ge=1, le=7 * 86_400)
    #: How long the answer to a request with an Idempotency-Key is kept for retries (at least 24 h).
    idempotency_seconds: int = Field(default=86_400, ge=86_400)
    #: A request owns its key this long; a process that died mid-request frees it after that.
    idempotency_lease_seconds: float = Field(default=60.0, gt=0)
    #: Request bodies above this get 413 before they are read whole; the bulk user upsert has its own.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_bulk_body_bytes: int = Field(default=64 * 1_048_576, ge=1024)
    fanout_chunk_size: int = Field(default=500, ge=1, le=10_000)
    fanout_lease_seconds: int = Field(default=300, ge=1)
    #: Chunks planned but not yet done per fan-out; bounds the broker's queue (backpressure).
    fanout_window_chunks: int = Field(default=32, ge=1)
    fanout_sweep_seconds: float = Field(default=15.0, gt=0)
    #: Days a finished fan-out keeps its per-user delivery rows (who was e-mailed, or refused) before
    #: they are deleted; its counts stay. 0: deleted at the next run after it is done.
    delivery_retention_days: int = Field(default=7, ge=0, le=MAX_RETENTION_DAYS)
    #: Days a dispatched event stays in the outbox (``events``) before it is deleted. An event not yet
    #: dispatched is kept whatever its age, and so is one a webhook delivery still needs.
    event_retention_days: int = 30
    #: Days a finished webhook delivery (delivered, or every retry spent) and a logged attempt stay
    #: before they are deleted. A delivery still owed is kept whatever its age.
    webhook_retention_days: int = 30
    #: Prefix of the Celery queue names, so that deployments (or test runs) sharing a broker stay apart.
    queue_prefix: str = Field(default="discounts", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    brand_digest_seconds: int = Field(default=60, ge=1)
    #: Codes a batch's generation adds per step: one transaction, one task.
    batch_chunk_size: int = Field(default=10_000, ge=1, le=100_000)
    ledger_batch_size: int = Field(default=1000, ge=1)
    code_cache_seconds: float = Field(default=2.0, ge=0)
    #: A code seen this recently still redeems while the database is down (codes/cache.py).
    code_stale_if_error_seconds: float = Field(default=3600.0, ge=0)

    #: Webhooks may reach loopback, private, link-local and other non-public addresses (tests, private networks).
    webhook_allow_private: bool = False
    #: Attempts in flight per webhook endpoint: a slow or dead one holds up only its own.
    webhook_concurrency: int = Field(default=8, ge=1, le=256)
    #: How often the deliverer looks for deliveries that are due.
    webhook_poll_seconds: float = Field(default=0.1, gt=0, le=60)

    #: How long a dashboard sign-in link (``discounts dashboard-link``) can be used, once.
    dashboard_link_seconds: int = Field(default=900, ge=60, le=7 * 86_400)
    #: How long a dashboard session lasts after sign-in (signing out ends it sooner).
    dashboard_session_seconds: int = Field(default=8 * 3600, ge=300, le=30 * 86_400)

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: ``text`` for a terminal, ``json`` (one object per line) for a log collector.
    log_format: Literal["text", "json"] = "text"
    #: One line per HTTP request on ``discounts.access``; off by default: ~20 µs a request, and
    #: /metrics already counts requests per route and status (benchmarks/README.md, "Logging").
    access_log: bool = False

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("rate_limit", "guess_limit", "guess_limit_per_address")
    @classmethod
    def _parse_limits(cls, value: str) -> str:
        """``20/minute;500/hour``, or empty for none: refused at start rather than at the first request."""
        if value:
            try:
                parse_many(value)
            except ValueError as exc:
                raise ValueError(f"not a rate limit such as 20/minute: {value!r}") from exc
        return value

    @field_validator("event_retention_days", "webhook_retention_days", mode="before")
    @classmethod
    def _whole_days(cls, value: object, info: ValidationInfo) -> int:
        """A whole number of days from 1 on, else refused at start with the variable's name."""
        days = value.strip() if isinstance(value, str) else value
        if isinstance(days, str) and days.isascii() and days.isdigit():
            days = int(days)
        if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= MAX_RETENTION_DAYS:
            return days
        variable = f"DISCOUNTS_{(info.field_name or '').upper()}"
        raise ValueError(f"{variable} must be a whole number of days from 1 to {MAX_RETENTION_DAYS}, not {value!r}")

    @field_validator("jwt_secret")
    @classmethod
    def _refuse_default_secret(cls, value: str | None) -> str | None:
        if value is not None and (not value or value.lower() in KNOWN_DEFAULT_SECRETS):
            raise ValueError("DISCOUNTS_JWT_SECRET is empty or a well-known example; set a real secret")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL with its async driver (``postgresql://`` → asyncpg, ``sqlite://`` → aiosqlite)."""
        if not self.database_url:
            return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'discounts.sqlite3'}"
        for plain, driver in ASYNC_DRIVERS.items():
            if self.database_url.startswith(plain):
                return driver + self.database_url.removeprefix(plain)
        return self.database_url

    @property
    def resolved_usage_store_url(self) -> str:
        return self.usage_store_url or f"sqlite:///{self.data_dir.resolve() / 'usages.sqlite3'}"

    @property
    def is_embedded_broker(self) -> bool:
        return self.broker_url is None

    @property
    def maildir(self) -> Path:
        return self.data_dir.resolve() / "maildir"

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def hs256_secret(self) -> str:
        """The HS256 secret: the configured one, else one generated on first run and kept (0600)."""
        if self.jwt_secret:
            return self.jwt_secret
        self.ensure_data_dir()
        path = self.data_dir / "jwt_secret"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        log.info("generated a JWT secret in %s", path)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
