"""``discounts serve`` tells its supervisor (systemd, Kubernetes) whether the API started.

uvicorn's supervisor of ``--workers N`` stops and returns, as after a clean stop, when a worker
fails to start: ``serve`` exited 0 on a refused setting, and an init system took it for a stop
it need neither report nor restart.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import free_port
from tests.system.conftest import Server, cli_env

pytestmark = pytest.mark.slow

#: uvicorn's exit status for an application that did not start (``uvicorn.config.STARTUP_FAILURE``).
STARTUP_FAILURE = 3


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_serve_whose_api_cannot_start_exits_non_zero(tmp_path: Path, workers: str) -> None:
    env = cli_env(tmp_path / "data", DISCOUNTS_USAGE_STORE_URL="bogus://nowhere")
    port = str(free_port())
    argv = [sys.executable, "-m", "discounts", "serve", "--port", port, "--workers", workers, "--no-background"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == STARTUP_FAILURE, output[-3000:]
    assert "unsupported usage store URL: 'bogus://nowhere'" in output, output[-3000:]


def test_a_serve_of_several_processes_stopped_by_its_supervisor_exits_zero(tmp_path: Path) -> None:
    server = Server(cli_env(tmp_path / "data"), "--workers", "2", "--no-background")
    log = server.stop()
    assert server.proc.returncode == 0, log[-3000:]
    assert "did not start" not in log, log[-3000:]
