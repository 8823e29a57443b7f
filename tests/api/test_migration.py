"""Migrations: codes made before keep their answers, batches come and go with 0004, the schema is the models'."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from discounts.api.app import create_app
from discounts.db import Base, make_engine
from discounts.migrate import alembic_config, upgrade
from discounts.settings import Settings
from discounts.usage.embedded import SCHEMA_VERSION, SQLiteUsageStore
from discounts.usage.store import NO_LIMITS, Change, Outcome, Status, usage_key
from tests.api.conftest import assert_problem, percent_rule
from tests.conftest import SECRET, FakeClock, _create_database, _drop_database, make_token
from tests.services import POSTGRES_ADMIN_URL
from tests.usage.conftest import EXPIRES, NOW, usage

T0 = "2026-01-01 00:00:00+00:00"


@pytest.fixture(params=["sqlite", "postgresql"])
async def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database at revision 0001 (before limits) holding a brand, a rule, a code and one ledger row."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
        name = None
    else:
        name = f"discounts_old_{uuid.uuid4().hex[:10]}"
        await _create_database(name)
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await upgrade(url, "0001")
        engine = make_engine(url)
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO brands (id, name, email, created_at, updated_at)"
                f" VALUES ('acme', 'Acme', 'p@acme.example', '{T0}', '{T0}')",
                f"INSERT INTO discount_rules (id, brand, discount, created_at) VALUES (7, 'acme', 10, '{T0}')",
                "INSERT INTO discount_codes (id, hash, rule_id, validity, created_at)"
                f" VALUES ('OLDCODE', 'a', 7, '2027-05-31 23:59:59+00:00', '{T0}')",
                "INSERT INTO discount_usage (code, user_id, brand, discount, amount, discount_amount, amount_to_pay,"
                f" used_at) VALUES ('OLDCODE', 'u-0', 'acme', 10, 120, 12, 108, '{T0}')",
            ):
                await conn.execute(text(statement))
        await engine.dispose()
        await upgrade(url)
        yield url
    finally:
        if name:
            await _drop_database(name)


async def test_a_code_made_before_limits_answers_as_before(old_database: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=old_database,
        usage_store_url=f"sqlite:///{tmp_path / 'usages.sqlite3'}",
        jwt_secret=SECRET,
        code_cache_seconds=0,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings, clock=FakeClock())
    user = {"Authorization": f"Bearer {make_token(settings, 'user', 'u-1')}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            fetched = await client.get("/api/v1/discountcode/OLDCODE/", headers=user)
            assert fetched.status_code == 200, fetched.text
            assert fetched.json()["rule"] == percent_rule(7, 10)
            body = {"code": "oldcode", "user": "u-1", "amount": "120.00"}
            used = await client.post("/api/v1/discountcodeusage/", json=body, headers=user)
            assert used.status_code == 201, used.text
            assert (used.json()["discount"], used.json()["amount_to_pay"]) == (10, "108.00")
            assert_problem(
                await client.post("/api/v1/discountcodeusage/", json=body, headers=user), 409, "code_already_used"
            )
    engine = make_engine(old_database)
    async with engine.connect() as conn:
        query = 'SELECT user_id, "use", discount, amount_off, status, hold_until FROM discount_usage'
        row = (await conn.execute(text(query))).one()
    await engine.dispose()
    assert tuple(row) == ("u-0", 1, 10, None, "used", None)  # a use from before is a plain use


V1_SCHEMA = """
CREATE TABLE usages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key BLOB NOT NULL UNIQUE, code TEXT NOT NULL, user_id TEXT NOT NULL,
    brand TEXT NOT NULL, discount INTEGER NOT NULL, amount TEXT NOT NULL, discount_amount TEXT NOT NULL,
    amount_to_pay TEXT NOT NULL, used_at REAL NOT NULL, expires_at REAL NOT NULL, copied INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX usages_uncopied ON usages (seq) WHERE copied = 0;
CREATE INDEX usages_code ON usages (code);
CREATE INDEX usages_expiry ON usages (expires_at);
"""


V2_COLUMNS = (
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, key BLOB NOT NULL UNIQUE, code TEXT NOT NULL, user_id TEXT NOT NULL,"
    " use INTEGER NOT NULL DEFAULT 1, brand TEXT NOT NULL, discount INTEGER, amount_off TEXT, currency TEXT,"
    " amount TEXT NOT NULL, discount_amount TEXT NOT NULL, amount_to_pay TEXT NOT NULL, used_at REAL NOT NULL,"
    " expires_at REAL NOT NULL, copied INTEGER NOT NULL DEFAULT 0"
)


async def test_an_embedded_usage_file_of_version_2_gets_holds(tmp_path: Path) -> None:
    """A file of before holds: its uses stay uses, and can be rolled back and held again."""
    path = tmp_path / "usages.sqlite3"
    old = usage("u-1")
    with sqlite3.connect(path) as db:
        db.executescript(
            f"CREATE TABLE usages ({V2_COLUMNS}); CREATE INDEX usages_uncopied ON usages (seq) WHERE copied = 0;"
            " CREATE TABLE code_totals (code TEXT PRIMARY KEY, uses INTEGER NOT NULL, cents INTEGER NOT NULL,"
            " expires_at REAL NOT NULL); PRAGMA user_version = 2;"
        )
        db.execute(
            "INSERT INTO usages (key, code, user_id, use, brand, discount, amount, discount_amount, amount_to_pay,"
            " used_at, expires_at, copied) VALUES (?, ?, ?, 1, 'acme', 10, '120.00', '12.00', '108.00', ?, ?, 1)",
            (usage_key(old.code, old.user)[:16], old.code, old.user, old.used_at.timestamp(), EXPIRES.timestamp()),
        )
    store = SQLiteUsageStore(str(path))
    try:
        assert (await store.record(old, expires_at=EXPIRES)).outcome is Outcome.USED
        confirmed = await store.confirm(old.code, old.user, 1, limits=NO_LIMITS, now=NOW)
        assert (confirmed.change, confirmed.usage) == (Change.ALREADY, old)
        given = await store.give_back(old.code, old.user, 1, limits=NO_LIMITS, now=NOW)
        assert given.change is Change.DONE
        held = dataclasses.replace(usage("u-1"), status=Status.HELD, hold_until=NOW + timedelta(minutes=15))
        assert (await store.record(held, expires_at=EXPIRES)).use == 2
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_an_embedded_usage_file_of_before_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "usages.sqlite3"
    old = usage("u-1")
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        key = usage_key(old.code, old.user)[:16]
        db.execute(
            "INSERT INTO usages (key, code, user_id, brand, discount, amount, discount_amount, amount_to_pay,"
            " used_at, expires_at, copied) VALUES (?, ?, ?, 'acme', 10, '120.00', '12.00', '108.00', ?, ?, 0)",
            (key, old.code, old.user, old.used_at.timestamp(), EXPIRES.timestamp()),
        )
    store = SQLiteUsageStore(str(path))
    try:
        assert await store.used_at(old.code, old.user, now=NOW) == old.used_at
        assert (await store.record(old, expires_at=EXPIRES)).outcome is Outcome.USED
        (entry,) = await store.pending(10)
        assert (entry.usage.user, entry.usage.use, entry.usage.discount) == ("u-1", 1, 10)
        assert await store.record(usage("u-2"), expires_at=EXPIRES)
        assert await store.count(old.code, NOW) == 2
    finally:
        await store.close()


async def test_the_rollup_is_filled_from_the_ledger_of_before(old_database: str) -> None:
    """Migration 0005 sums the usages the ledger already has, as each copy would have."""
    engine = make_engine(old_database)
    async with engine.connect() as conn:
        totals = (await conn.execute(text("SELECT code, uses, discount_cents, released FROM code_usage_totals"))).all()
        hours = (await conn.execute(text("SELECT code, uses, amount_cents, currency FROM code_usage_hours"))).all()
    await engine.dispose()
    assert [tuple(row) for row in totals] == [("OLDCODE", 1, 1200, 0)]
    assert [tuple(row) for row in hours] == [("OLDCODE", 1, 12000, "")]


async def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    """What Alembic's autogenerate would still find to do after ``upgrade head``: nothing, on either database."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert differences == []


async def test_batches_come_and_go_with_revision_0004(old_database: str) -> None:
    """Down to 0003 (the batch, its codes and its distribution go; every other code stays), and up again."""
    engine = make_engine(old_database)
    async with engine.begin() as conn:
        for statement in (
            "INSERT INTO discount_code_batches (id, brand, rule_id, kind, status, count, generated, prefix, length,"
            f" validity, distribute, assigned, created_at, updated_at) VALUES ('{'b' * 32}', 'acme', 7, 'generated',"
            f" 'done', 1, 1, '', 7, '2027-05-31 23:59:59+00:00', true, 1, '{T0}', '{T0}')",
            "INSERT INTO discount_codes (id, hash, rule_id, validity, created_at, batch_id, batch_seq)"
            f" VALUES ('ABCDEFG', 'b', 7, '2027-05-31 23:59:59+00:00', '{T0}', '{'b' * 32}', 1)",
            "INSERT INTO batch_assignments (batch_id, user_id, code_id, assigned_at)"
            f" VALUES ('{'b' * 32}', 'u-0', 'ABCDEFG', '{T0}')",
            "INSERT INTO fanouts (code_id, status, planned, created_at, updated_at)"
            f" VALUES ('batch:{'b' * 32}', 'done', true, '{T0}', '{T0}'), ('OLDCODE', 'done', true, '{T0}', '{T0}')",
        ):
            await conn.execute(text(statement))
    await engine.dispose()
    await downgrade(old_database, "0003")
    engine = make_engine(old_database)
    async with engine.connect() as conn:
        codes = (await conn.execute(text("SELECT id FROM discount_codes"))).scalars().all()
        fanouts = (await conn.execute(text("SELECT code_id FROM fanouts"))).scalars().all()
    await engine.dispose()
    assert (codes, fanouts) == (["OLDCODE"], ["OLDCODE"])
    await upgrade(old_database)


RETENTION_INDEXES = {
    "events": "ix_events_dispatched",
    "webhook_deliveries": "ix_webhook_deliveries_finished",
    "webhook_attempts": "ix_webhook_attempts_at",
}


async def index_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: {ix["name"] for table in RETENTION_INDEXES for ix in inspect(sync).get_indexes(table)}
            )
    finally:
        await engine.dispose()


async def test_retention_indexes_come_and_go_with_revision_0009_and_one_built_beforehand_is_kept(
    old_database: str,
) -> None:
    """An operator may build an index beforehand (``CREATE INDEX CONCURRENTLY`` on PostgreSQL): 0009 skips it."""
    assert set(RETENTION_INDEXES.values()) <= await index_names(old_database)
    await downgrade(old_database, "0008")
    assert not set(RETENTION_INDEXES.values()) & await index_names(old_database)
    engine = make_engine(old_database)
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE INDEX ix_events_dispatched ON events (dispatched_at, seq) WHERE dispatched_at IS NOT NULL")
        )
    await engine.dispose()
    await upgrade(old_database)
    assert set(RETENTION_INDEXES.values()) <= await index_names(old_database)


async def downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)

    def run(connection: Connection) -> None:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()
