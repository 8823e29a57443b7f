"""A real ``python -m discounts worker`` in its own process group, configured like a deployment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from kombu import Connection

from discounts.jobs.queue import queue_names
from discounts.settings import Settings


def worker_env(settings: Settings) -> dict[str, str]:
    values = {
        "DATA_DIR": str(settings.data_dir.resolve()),
        "DATABASE_URL": settings.resolved_database_url,
        "USAGE_STORE_URL": settings.resolved_usage_store_url,
        "JWT_SECRET": settings.hs256_secret(),
        "SMTP_URL": settings.smtp_url or "",
        "BROKER_URL": settings.broker_url or "",
        "QUEUE_PREFIX": settings.queue_prefix,
        "PUBLIC_URL": settings.public_url,
        "FANOUT_CHUNK_SIZE": str(settings.fanout_chunk_size),
        "FANOUT_WINDOW_CHUNKS": str(settings.fanout_window_chunks),
        "FANOUT_LEASE_SECONDS": str(settings.fanout_lease_seconds),
        "FANOUT_SWEEP_SECONDS": str(settings.fanout_sweep_seconds),
        "BRAND_DIGEST_SECONDS": str(settings.brand_digest_seconds),
        "BATCH_CHUNK_SIZE": str(settings.batch_chunk_size),
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith("DISCOUNTS_")}
    env.update({f"DISCOUNTS_{key}": value for key, value in values.items() if value})
    return env


class WorkerProcess:
    def __init__(self, settings: Settings, log: Path, *, beat: bool, concurrency: int = 2) -> None:
        self.argv = [sys.executable, "-m", "discounts", "worker", f"--concurrency={concurrency}"]
        if beat:
            self.argv.append("--beat")
        self.env = worker_env(settings)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=out, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL to the whole group: the main process, its pool children and beat, with no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def delete_queues(settings: Settings) -> None:
    """Test runs share the machine's broker: leave no queues behind."""
    with Connection(settings.broker_url, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in queue_names(settings):
            try:
                channel.queue_delete(name)
            except Exception:
                channel = conn.channel()
