"""The ``discounts`` command as a user runs it: help, migrate, tokens, the directory."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.conftest import SECRET, _create_database, _drop_database, run_in_thread
from tests.system.conftest import cli_env, run_cli


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return cli_env(tmp_path / "data", database_url)


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_cli("--help", env=cli_env(tmp_path / "data"))
    assert result.returncode == 0
    for command in ("serve", "migrate", "token", "worker", "brands", "users", "usage"):
        assert command in result.stdout


def test_token_is_signed_with_the_configured_secret(tmp_path: Path) -> None:
    result = run_cli("token", "--role", "brand", "--brand", "acme", env=cli_env(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["brand"]) == ("acme", "brand", "acme")
    assert claims["exp"] > claims["iat"]


def test_brand_token_needs_a_brand(tmp_path: Path) -> None:
    result = run_cli("token", "--role", "brand", env=cli_env(tmp_path / "data"))
    assert result.returncode != 0
    assert "--brand" in result.stderr


def test_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data")
    del env["DISCOUNTS_JWT_SECRET"]
    first = run_cli("token", "--role", "user", "--sub", "u-1", env=env)
    second = run_cli("token", "--role", "user", "--sub", "u-1", env=env)
    assert first.returncode == 0, first.stderr
    secret_file = tmp_path / "data" / "jwt_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text().strip()
    for result in (first, second):
        assert jwt.decode(result.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "u-1"


def test_migrate_brands_add_and_users_import(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_cli("migrate", env=env).returncode == 0
    added = run_cli("brands", "add", "acme", "--name", "Acme", "--email", "promo@acme.example", env=env)
    assert added.returncode == 0, added.stderr
    assert "created" in added.stdout
    again = run_cli("brands", "add", "acme", "--name", "Acme Inc", "--email", "promo@acme.example", env=env)
    assert "updated" in again.stdout

    csv = tmp_path / "users.csv"
    rows = ["id,email,group"] + [f"u-{i},u{i}@example.com,{'wholesale' if i % 2 else ''}" for i in range(2500)]
    csv.write_text("\n".join(rows) + "\n")
    imported = run_cli("users", "import", str(csv), "--batch", "1000", env=env)
    assert imported.returncode == 0, imported.stderr
    assert "2500 created, 0 updated" in imported.stdout
    reimported = run_cli("users", "import", str(csv), env=env)
    assert "0 created, 2500 updated" in reimported.stdout


def test_users_import_reports_the_bad_line_and_imports_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_cli("migrate", env=env).returncode == 0
    csv = tmp_path / "users.csv"
    csv.write_text("id,email\nu-1,u1@example.com\nu-2,not-an-email\n")
    result = run_cli("users", "import", str(csv), env=env)
    assert result.returncode == 1
    assert ":3:" in result.stderr
    assert "email" in result.stderr
    check = run_cli("users", "import", str(tmp_path / "missing.csv"), env=env)
    assert check.returncode != 0


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, of the same kind as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = f"discounts_empty_{uuid.uuid4().hex[:12]}"
    run_in_thread(_create_database(name))
    yield database_url.rsplit("/", 1)[0] + f"/{name}"
    run_in_thread(_drop_database(name))


def test_concurrent_migrations_leave_one_schema(tmp_path: Path, empty_database_url: str) -> None:
    """Several machines starting at once on an empty database: every `migrate` succeeds."""
    env = cli_env(tmp_path / "data", empty_database_url)
    argv = [sys.executable, "-m", "discounts", "migrate"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(5)]
    results = [(p.wait(timeout=120), p.stderr.read().decode() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0] * 5, results
    added = run_cli("brands", "add", "acme", "--name", "Acme", "--email", "promo@acme.example", env=env)
    assert added.returncode == 0, added.stderr
