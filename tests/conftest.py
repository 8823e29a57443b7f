from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.api.app import create_app
from discounts.auth import Role, mint_token
from discounts.db import Base, make_engine, make_sessionmaker
from discounts.migrate import upgrade
from discounts.models import load_all
from discounts.settings import Settings
from tests.services import POSTGRES_ADMIN_URL, missing

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
load_all()


class FakeClock:
    """Time that only moves when a test moves it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating each time would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


async def _create_database(name: str) -> None:
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


async def _drop_database(name: str) -> None:
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped afterwards."""
    name = f"discounts_test_{uuid.uuid4().hex[:12]}"
    try:
        run_in_thread(_create_database(name))
    except Exception as exc:
        missing("PostgreSQL", exc)
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    run_in_thread(upgrade(url))
    yield url
    run_in_thread(_drop_database(name))


def run_in_thread(coro: Any) -> Any:
    """Run a coroutine on a loop of its own, even from code that a running loop called."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _truncate(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """Every database test runs on both backends, each time on empty tables."""
    if request.param == "sqlite":
        path = tmp_path / "discounts.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_url")
    run_in_thread(_truncate(url))
    yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        usage_store_url=f"sqlite:///{tmp_path / 'usages.sqlite3'}",
        jwt_secret=SECRET,
        rate_limit="100000/minute",
        code_cache_seconds=0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.resolved_database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def make_token(settings: Settings, role: str, sub: str, brand: str | None = None, ttl: int = 3600) -> str:
    return mint_token(
        settings, role=Role(role), sub=sub, brand=brand, ttl=timedelta(seconds=ttl), now=datetime.now(UTC)
    )


class Auth:
    """Authorization headers for each kind of caller."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def user(self, sub: str = "u-1") -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(self.settings, 'user', sub)}"}

    def brand(self, brand: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(self.settings, 'brand', brand, brand)}"}

    def service(self, sub: str = "marketplace") -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(self.settings, 'service', sub)}"}


@pytest.fixture
def auth(settings: Settings) -> Auth:
    return Auth(settings)


@pytest.fixture
def api(client: httpx.AsyncClient, auth: Auth) -> Iterator[Api]:
    return Api(client, auth)


class Api:
    """Short-hands for the set-up steps most tests share."""

    def __init__(self, client: httpx.AsyncClient, auth: Auth) -> None:
        self.client, self.auth = client, auth

    async def brand(self, brand: str = "acme", email: str = "promo@acme.example") -> None:
        r = await self.client.put(
            f"/api/v1/brands/{brand}/", json={"name": brand.title(), "email": email}, headers=self.auth.service()
        )
        assert r.status_code in (200, 201), r.text

    async def user(self, user: str = "u-1", email: str | None = None, group: str | None = None) -> None:
        body: dict[str, object] = {"email": email or f"{user}@example.com"}
        if group:
            body["group"] = group
        r = await self.client.put(f"/api/v1/users/{user}/", json=body, headers=self.auth.service())
        assert r.status_code in (200, 201), r.text

    async def code(
        self,
        code: str = "SPRINGSALE2022",
        brand: str = "acme",
        discount: int = 10,
        validity: str = "2027-05-31T23:59:59Z",
    ) -> dict[str, object]:
        r = await self.client.post(
            "/api/v1/discountcode/",
            json={"id": code, "rule": {"brand": brand, "discount": discount}, "validity": validity},
            headers=self.auth.brand(brand),
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def redeem(self, code: str = "SPRINGSALE2022", user: str = "u-1", **body: object) -> httpx.Response:
        payload = {"code": code, "user": user, **(body or {"amount": "120.00"})}
        return await self.client.post("/api/v1/discountcodeusage/", json=payload, headers=self.auth.user(user))
