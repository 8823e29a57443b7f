"""A real Redis Cluster on free loopback ports, built from the installed redis-server: masters, and replicas."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.services import RedisServer, free_port, missing


class LocalRedisCluster:
    """``masters`` cluster-enabled redis-servers, each with ``replicas``, made by ``redis-cli --cluster create``."""

    def __init__(
        self,
        directory: Path,
        masters: int = 3,
        replicas: int = 0,
        *,
        announced: bool = False,
        node_timeout_ms: int = 5000,
    ) -> None:
        """``announced``: each node tells clients another port (``announced_port``), where a test puts a proxy.

        ``node_timeout_ms``: how long a node is unreachable before its replica takes over by itself.
        """
        self.cli = shutil.which("redis-cli") or ""
        if not self.cli:
            missing("redis-cli", "not installed")
        self.directory = directory
        self.replicas = replicas
        self.announced = announced
        self.node_timeout_ms = node_timeout_ms
        #: The port each node tells clients to use, when ``announced`` (the node's own otherwise).
        self.announced_port: dict[int, int] = {}
        self.nodes = [self._node(f"node{index}") for index in range(masters * (1 + replicas))]

    def _node(self, name: str) -> RedisServer:
        node_dir = self.directory / name
        bus = free_port()
        announce = ["--cluster-announce-port", str(port := free_port()), "--cluster-announce-bus-port", str(bus)]
        node = RedisServer(
            node_dir,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(node_dir / "nodes.conf"),
            "--cluster-port",
            str(bus),
            *(announce if self.announced else []),
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            # A replica's first copy through a file: it starts at once (a copy over the socket waits
            # 5 s for more replicas to share it) and the writes follow it at once (over the socket,
            # only after the replica's first acknowledgement, up to a second later).
            "--repl-diskless-sync",
            "no",
        )
        self.announced_port[node.port] = port if self.announced else node.port
        return node

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{self.announced_port[node.port]}" for node in self.nodes)

    def start(self) -> LocalRedisCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self._wait_until_ok()
        deadline = time.monotonic() + 30
        while (
            len(replicas := [node for node in self.nodes if self._role(node)[0] == "replica"])
            < len(self.nodes) // (1 + self.replicas) * self.replicas
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("the local Redis Cluster's replicas never took their role")
            time.sleep(0.05)
        for node in replicas:
            self.wait_for_master_link(node)
        return self

    def _wait_until_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [self.call(node, "CLUSTER", "INFO") for node in self.nodes if self.alive(node)]
            if all("cluster_state:ok" in state for state in states):
                return
            time.sleep(0.1)
        raise TimeoutError("the local Redis Cluster did not reach cluster_state:ok")

    def wait_for_master_link(self, replica: RedisServer, timeout: float = 30.0) -> None:
        """Until ``replica`` has copied its master's data and follows its writes."""
        deadline = time.monotonic() + timeout
        while "master_link_status:up" not in self.call(replica, "INFO", "replication"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replica on port {replica.port} never caught up with its master")
            time.sleep(0.05)

    def call(self, node: RedisServer, *command: str) -> str:
        done = subprocess.run(
            [self.cli, "-p", str(node.port), *command], check=True, capture_output=True, text=True, timeout=30
        )
        return done.stdout

    @staticmethod
    def alive(node: RedisServer) -> bool:
        return node.proc is not None and node.proc.poll() is None

    def node_id(self, node: RedisServer) -> str:
        return self.call(node, "CLUSTER", "MYID").strip()

    def _myself(self, node: RedisServer) -> list[str]:
        """``node``'s own line of ``CLUSTER NODES``: id, address, flags, master, ..."""
        for line in self.call(node, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "myself" in fields[2].split(","):
                return fields
        raise AssertionError(f"the node on port {node.port} does not list itself")

    def _role(self, node: RedisServer) -> tuple[str, str]:
        """``node``'s role and its master's id (``-`` for a master), as it knows itself."""
        _, _, flags, master, *_ = self._myself(node)
        return ("master" if "master" in flags.split(",") else "replica", master)

    def primaries(self) -> list[RedisServer]:
        return [node for node in self.nodes if self.alive(node) and self._role(node)[0] == "master"]

    def replica_of(self, primary: RedisServer) -> RedisServer:
        primary_id = self.node_id(primary)
        return next(node for node in self.nodes if self.alive(node) and self._role(node)[1] == primary_id)

    def add_replica(self, primary: RedisServer) -> RedisServer:
        """A new node that joins the cluster as a replica of ``primary`` and has copied its data."""
        node = self._node(f"node{len(self.nodes)}").start()
        self.nodes.append(node)
        bus_port = self._myself(primary)[1].split("@")[1].split(",")[0]  # ip:port@cport[,hostname]
        self.call(node, "CLUSTER", "MEET", "127.0.0.1", str(primary.port), bus_port)
        primary_id, deadline = self.node_id(primary), time.monotonic() + 30
        while primary_id not in self.call(node, "CLUSTER", "NODES"):
            if time.monotonic() > deadline:
                raise TimeoutError("the new node never met the cluster")
            time.sleep(0.05)
        self.call(node, "CLUSTER", "REPLICATE", primary_id)
        self.wait_for_master_link(node)
        return node

    def flush(self) -> None:
        for node in self.primaries():
            self.call(node, "FLUSHALL")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
