"""``discounts codes import`` and ``discounts codes export`` as an operator runs them."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from discounts.auth import Principal, Role
from discounts.codes.batches import create_batch
from discounts.codes.models import DiscountCode
from discounts.codes.schemas import BatchIn, RuleIn
from discounts.codes.service import create_rule
from discounts.db import make_engine, make_sessionmaker, unit_of_work
from discounts.models import load_all
from tests.conftest import run_in_thread
from tests.system.conftest import cli_env, run_cli

ACME = Principal("acme", Role.brand, "acme")
NOW = datetime(2026, 1, 15, tzinfo=UTC)
VALIDITY = "2099-12-31T23:59:59Z"


async def _in_database(url: str, work: str) -> object:
    """A rule of acme (``work="rule"``), a queued batch (``"batch"``) or the number of codes (``"count"``)."""
    load_all()
    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        async with unit_of_work(sessions) as uow:
            if work == "rule":
                return (await create_rule(uow.session, ACME, RuleIn(brand="acme", discount=10), NOW)).id
            if work == "batch":
                data = BatchIn(
                    rule=RuleIn(brand="acme", discount=10), validity=datetime(2099, 1, 1, tzinfo=UTC), count=9
                )
                return (await create_batch(uow, ACME, data, NOW)).id
            return await uow.session.scalar(select(func.count()).select_from(DiscountCode))
    finally:
        await engine.dispose()


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = cli_env(tmp_path / "data", database_url)
    assert run_cli("migrate", env=env).returncode == 0
    assert run_cli("brands", "add", "acme", "--name", "Acme", "--email", "p@acme.example", env=env).returncode == 0
    return env


def test_codes_imported_from_a_file_export_back_in_order(
    tmp_path: Path, env: dict[str, str], database_url: str
) -> None:
    rule = run_in_thread(_in_database(database_url, "rule"))
    codes = [f"moved-{n:05d}" for n in range(2500)]
    source = tmp_path / "codes.csv"
    source.write_text("code\n" + "\n".join(codes) + "\n")
    imported = run_cli(
        "codes", "import", "--brand", "acme", "--rule", str(rule), "--validity", VALIDITY, str(source), env=env
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("imported 2,500 codes as batch ")
    batch_id = imported.stdout.split()[-1]

    exported = run_cli("codes", "export", batch_id, env=env)
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.split("\n")  # CRLF in the file; text mode reads it as \n
    assert lines[0] == "code,hash"
    assert lines[1:-1] == [f"{c.upper()},{hashlib.sha256(c.upper().encode()).hexdigest()}" for c in codes]
    assert lines[-1] == ""
    assert "exporting" in exported.stderr  # the progress bar is on stderr, never in the CSV
    assert "2,500 codes" in exported.stderr


#: The command's refusals are the same on either database (the API's tests run the import on both).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_refused_line_is_listed_and_nothing_is_imported(
    tmp_path: Path, env: dict[str, str], database_url: str
) -> None:
    rule = str(run_in_thread(_in_database(database_url, "rule")))
    first = tmp_path / "first.csv"
    first.write_text("code\nTAKEN-1\nTAKEN-2\n")
    assert (
        run_cli(
            "codes", "import", "--brand", "acme", "--rule", rule, "--validity", VALIDITY, str(first), env=env
        ).returncode
        == 0
    )
    before = run_in_thread(_in_database(database_url, "count"))

    malformed = tmp_path / "malformed.csv"
    malformed.write_text(f"code,hash\nOK-1,\nno way,\nOK-2,{'0' * 64}\n")
    result = run_cli(
        "codes", "import", "--brand", "acme", "--rule", rule, "--validity", VALIDITY, str(malformed), env=env
    )
    assert result.returncode == 1
    assert [line.split(": ")[0] for line in result.stderr.splitlines()] == [f"{malformed}:3", f"{malformed}:4"]

    clashing = tmp_path / "clashing.csv"
    clashing.write_text("code\nNEW-1\ntaken-2\nNEW-2\nnew-1\n")
    result = run_cli(
        "codes", "import", "--brand", "acme", "--rule", rule, "--validity", VALIDITY, str(clashing), env=env
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{clashing}:5: NEW-1 is codes[0] again"]  # repeats first, then the rest
    clashing.write_text("code\nNEW-1\ntaken-2\nNEW-2\nTAKEN-1\n")
    result = run_cli(
        "codes", "import", "--brand", "acme", "--rule", rule, "--validity", VALIDITY, str(clashing), env=env
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{clashing}:3: TAKEN-2 exists already",
        f"{clashing}:5: TAKEN-1 exists already",
    ]
    assert run_in_thread(_in_database(database_url, "count")) == before

    for bad in (["--rule", "999"], ["--validity", "2020-01-01T00:00:00Z"], ["--brand", "nobody"]):
        options = {"--brand": "acme", "--rule": rule, "--validity": VALIDITY} | dict([bad])
        argv = [part for option in options.items() for part in option]
        result = run_cli("codes", "import", *argv, str(first), env=env)
        assert result.returncode != 0, bad
        assert result.stderr.strip(), bad


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_batch_that_is_not_done_or_does_not_exist_is_not_exported(env: dict[str, str], database_url: str) -> None:
    queued = str(run_in_thread(_in_database(database_url, "batch")))
    result = run_cli("codes", "export", queued, env=env)
    assert (result.returncode, result.stdout) == (1, "")
    assert "queued: 0 of 9 codes" in result.stderr
    result = run_cli("codes", "export", "f" * 32, env=env)
    assert (result.returncode, result.stdout) == (1, "")
    assert "no batch" in result.stderr


def test_the_command_does_not_import_the_metrics_before_serve_configures_them() -> None:
    """``serve`` sets PROMETHEUS_MULTIPROC_DIR after the command is imported; metrics imported sooner count nowhere."""
    check = "import sys, discounts.cli; sys.exit('discounts.metrics' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], check=False).returncode == 0
