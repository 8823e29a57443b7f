"""The ``discounts`` command as a user runs it: help, migrate, tokens, the directory, serve's logs."""

from __future__ import annotations

import asyncio
import json
import mailbox
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import SECRET, _create_database, _drop_database, run_in_thread
from tests.system.conftest import Server, bearer, cli_env, run_cli


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return cli_env(tmp_path / "data", database_url)


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_cli("--help", env=cli_env(tmp_path / "data"))
    assert result.returncode == 0
    for command in ("serve", "migrate", "token", "worker", "brands", "users", "usage", "codes"):
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


def wait_for_log(server: Server, needle: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while needle not in server.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{needle!r} not logged in {timeout}s:\n{server.log.read_text()}"
        time.sleep(0.2)


#: Celery's line once the background worker consumes: from then on, beat sends a task every second.
WORKER_READY = " ready."


@pytest.mark.slow
def test_an_idle_serve_says_what_it_runs_then_stays_quiet(tmp_path: Path) -> None:
    server = Server(cli_env(tmp_path / "data"))
    try:
        wait_for_log(server, WORKER_READY)
        time.sleep(1)
        before = server.log.read_text().splitlines()
        time.sleep(3.5)
        after = server.log.read_text().splitlines()
    finally:
        server.stop()
    summary = "\n".join(before)
    for expected in (f"on {server.url}: 1 API process", "public URL", "database", "usage store", "broker", "mail"):
        assert expected in summary, summary
    assert f"API docs     {server.url}/docs" in summary, summary
    assert len(after) - len(before) <= 1, after[len(before) :]
    assert "copy_ledger" not in "\n".join(after), after


@pytest.mark.slow
@pytest.mark.parametrize("group_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "timeout"])
def test_a_signal_to_serves_process_group_stops_the_worker_once_and_leaves_nothing(
    tmp_path: Path, group_signal: signal.Signals
) -> None:
    """A terminal's Ctrl+C (SIGINT) and ``timeout`` (SIGTERM) signal serve's whole process group.

    When that reached the worker's pool processes too, they died holding the pool's queue lock
    and the worker hung at exit for ever, orphaned, after logging an error per pool process.
    """
    server = Server(cli_env(tmp_path / "data"))
    wait_for_log(server, WORKER_READY)
    log = server.stop(group_signal=group_signal)
    assert not server.leftovers, f"the background worker outlived `discounts serve`:\n{log}"
    assert " ERROR " not in log, log
    assert "Ctrl+C again" not in log, log


@pytest.mark.slow
def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    server = Server(cli_env(tmp_path / "data", DISCOUNTS_LOG_FORMAT="json", DISCOUNTS_ACCESS_LOG="true"))
    try:
        wait_for_log(server, WORKER_READY)
        assert httpx.get(server.url + "/healthz").status_code == 200
        refused = httpx.get(server.url + "/api/v1/discountcode/NOPE/", headers={"X-Request-ID": "checkout-7"})
    finally:
        log = server.stop()
    assert refused.status_code == 401
    assert refused.headers["X-Request-ID"] == "checkout-7"
    assert refused.json()["request_id"] == "checkout-7"
    entries = [json.loads(line) for line in log.splitlines()]
    for entry in entries:
        assert {"ts", "level", "logger", "msg"} <= entry.keys(), entry
    assert any(e["logger"] == "discounts.serve" and e.get("public_url") == server.url for e in entries), entries
    assert any(e["logger"] == "celery.apps.worker" for e in entries), entries
    (access,) = [e for e in entries if e.get("request_id") == "checkout-7"]
    assert (access["logger"], access["status"], access["path"]) == (
        "discounts.access",
        401,
        "/api/v1/discountcode/NOPE/",
    )


def wait_for_mail(maildir: Path, timeout: float = 60) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if maildir.exists():
            messages = list(mailbox.Maildir(maildir, create=False))
            if messages:
                return messages[0]
        time.sleep(0.3)
    raise AssertionError(f"no mail in {maildir} after {timeout}s")


@pytest.mark.slow
def test_serve_on_another_port_sends_links_to_that_port(tmp_path: Path) -> None:
    """No DISCOUNTS_PUBLIC_URL: the unsubscribe link leads to where serve listens, not to :8000."""
    env = cli_env(tmp_path / "data")
    server = Server(env)
    try:
        service = bearer(run_cli("token", "--role", "service", "--sub", "marketplace", env=env).stdout)
        brand = bearer(run_cli("token", "--role", "brand", "--brand", "acme", env=env).stdout)
        with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as api:
            r = api.put("/brands/acme/", json={"name": "Acme", "email": "promo@acme.example"}, headers=service)
            assert r.status_code == 201, r.text
            r = api.put("/users/u-1/", json={"email": "ann@example.com"}, headers=service)
            assert r.status_code == 201, r.text
            code = {"id": "PORTLINK", "rule": {"brand": "acme", "discount": 5}, "validity": "2099-01-01T00:00:00Z"}
            r = api.post("/discountcode/", json=code, headers=brand)
            assert r.status_code == 201, r.text
        announcement = wait_for_mail(tmp_path / "data" / "maildir")
    finally:
        server.stop()
    link = str(announcement["List-Unsubscribe"])
    assert link.startswith(f"<http://127.0.0.1:{server.port}/api/v1/unsubscribe/?"), link


@pytest.mark.slow
def test_a_worker_of_its_own_shows_its_counters_on_its_metrics_port_and_beside_the_api(tmp_path: Path) -> None:
    """A worker run as at scale (``serve --no-background`` plus ``discounts worker``) is not invisible.

    Before, only ``serve`` chose where counters go: a worker started on its own counted in its
    memory, and neither ``/metrics`` nor anything else showed its copies or webhook attempts.
    """
    from tests.services import free_port, wait_for_port
    from tests.system.test_faults import CODE, open_sale, tokens_for

    env = cli_env(tmp_path / "data")
    server = Server(env, "--no-background")
    port = free_port()
    argv = [sys.executable, "-m", "discounts", "worker", "--beat", "--concurrency", "1", "--metrics-port", str(port)]
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, timeout=60)
        asyncio.run(open_sale(server.url))
        token = tokens_for(["m1"])["m1"]
        used = httpx.post(
            f"{server.url}/api/v1/discountcodeusage/",
            json={"code": CODE, "user": "m1", "amount": "10.00"},
            headers=bearer(token),
        )
        assert used.status_code == 201, used.text

        def copied(url: str) -> float:
            lines = httpx.get(url).text.splitlines()
            return sum(float(line.split()[-1]) for line in lines if line.startswith("discounts_ledger_copied_total"))

        deadline = time.monotonic() + 60
        while copied(f"http://127.0.0.1:{port}/metrics") < 1:
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
        assert copied(f"{server.url}/metrics") == 1  # the API on this host adds the worker's counters up too
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        log.close()
        server.stop()
