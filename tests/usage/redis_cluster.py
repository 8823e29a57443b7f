"""A real Redis Cluster of several masters on free loopback ports, built from the installed redis-server."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.services import RedisServer, free_port, missing


class LocalRedisCluster:
    """``masters`` cluster-enabled redis-servers, slots assigned by ``redis-cli --cluster create``."""

    def __init__(self, directory: Path, masters: int = 3) -> None:
        self.cli = shutil.which("redis-cli") or ""
        if not self.cli:
            missing("redis-cli", "not installed")
        self.nodes: list[RedisServer] = []
        for index in range(masters):
            node_dir = directory / f"node{index}"
            self.nodes.append(
                RedisServer(
                    node_dir,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(node_dir / "nodes.conf"),
                    "--cluster-port",
                    str(free_port()),
                    "--cluster-node-timeout",
                    "5000",
                )
            )

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def start(self) -> LocalRedisCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self._wait_until_ok()
        return self

    def _wait_until_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [self.call(node, "CLUSTER", "INFO") for node in self.nodes]
            if all("cluster_state:ok" in state for state in states):
                return
            time.sleep(0.1)
        raise TimeoutError("the local Redis Cluster did not reach cluster_state:ok")

    def call(self, node: RedisServer, *command: str) -> str:
        done = subprocess.run(
            [self.cli, "-p", str(node.port), *command], check=True, capture_output=True, text=True, timeout=30
        )
        return done.stdout

    def flush(self) -> None:
        for node in self.nodes:
            self.call(node, "FLUSHALL")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
