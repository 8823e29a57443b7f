"""``discounts dashboard-link`` as an operator types it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.system.conftest import cli_env, run_cli

pytestmark = pytest.mark.slow


def test_the_command_prints_a_link_for_a_registered_brand_only(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", DISCOUNTS_PUBLIC_URL="https://discounts.example")
    assert run_cli("migrate", env=env).returncode == 0
    unknown = run_cli("dashboard-link", "--brand", "acme", env=env)
    assert unknown.returncode == 2
    assert "not registered" in unknown.stderr
    assert run_cli("brands", "add", "acme", "--name", "Acme", "--email", "p@acme.example", env=env).returncode == 0
    made = run_cli("dashboard-link", "--brand", "acme", "--ttl", "120", env=env)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("https://discounts.example/dashboard/sign-in?token=")
    assert "works once" in made.stderr
    assert run_cli("dashboard-link", "--brand", "acme", "--ttl", "5", env=env).returncode == 2
