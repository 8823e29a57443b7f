"""The deployment a randomized fault test breaks, and the faults it knows.

A Redis Cluster of three masters with a replica each, every node reached through a proxy that
can lose its answers; a private PostgreSQL; a Redis as the broker; two ``discounts serve``
API processes and one ``discounts worker`` (the ledger copy), with
``DISCOUNTS_USAGE_MIN_REPLICAS=1``. Each fault breaks one thing and mends it as an operator or
an orchestrator would, before it returns: a master is killed and its replica takes over by
itself (the dead node comes back as the new master's replica); an API process is killed and a
new one started; the proxies lose answers for a moment; PostgreSQL is stopped (a crash) and
started again.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.proxy import ReplyDroppingProxy
from tests.services import PostgresServer, RedisServer
from tests.system.conftest import Server, cli_env
from tests.usage.redis_cluster import LocalRedisCluster

FAULTS = ("kill_master", "kill_api", "drop_replies", "restart_postgres")
#: A node unreachable this long is failed over by its replica (short: a test waits for it).
NODE_TIMEOUT_MS = 2000


def schedule(seed: int, seconds: float) -> list[tuple[float, str]]:
    """When each fault starts, from ``seed``: each kind once in a random order, then any, 1–4 s apart."""
    rng = random.Random(seed)
    kinds = list(FAULTS)
    rng.shuffle(kinds)
    at, planned = rng.uniform(1.0, 3.0), []
    while at < seconds:
        planned.append((round(at, 2), kinds.pop(0) if kinds else rng.choice(FAULTS)))
        at += rng.uniform(1.0, 4.0)
    return planned


class World:
    """Every process of the deployment, and the faults; blocking calls, to run in a thread."""

    def __init__(self, directory: Path, seed: int) -> None:
        self.directory = directory
        self.rng = random.Random(seed ^ 0x5EED)  # the faults' own choices (which master, how long)
        self.cluster = LocalRedisCluster(
            directory / "cluster", masters=3, replicas=1, announced=True, node_timeout_ms=NODE_TIMEOUT_MS
        )
        self.proxies = {
            node.port: ReplyDroppingProxy(node.port, port=self.cluster.announced_port[node.port])
            for node in self.cluster.nodes
        }
        self.postgres = PostgresServer()
        self.broker = RedisServer(directory / "broker", "--appendonly", "yes")
        self.env: dict[str, str] = {}
        self.apis: list[Server] = []
        self.retired: list[Server] = []
        self.worker: subprocess.Popen[bytes] | None = None
        self.injected: Counter[str] = Counter()
        self.log: list[str] = []

    def start(self) -> World:
        for proxy in self.proxies.values():
            proxy.start()
        self.cluster.start()
        self.postgres.init()
        self.broker.start()
        self.env = cli_env(
            self.directory / "data",
            self.postgres.url,
            DISCOUNTS_USAGE_STORE_URL=self.cluster.url,
            DISCOUNTS_USAGE_MIN_REPLICAS="1",
            DISCOUNTS_BROKER_URL=self.broker.url,
            # A key held by a request a kill cut off is free again soon; a cart reservation a
            # dead process left ends soon too (both are what a retry waits for).
            DISCOUNTS_IDEMPOTENCY_LEASE_SECONDS="2",
            DISCOUNTS_HOLD_SECONDS="10",
        )
        self._migrate()
        self.apis = [Server(self.env, "--no-background") for _ in range(2)]
        self._start_worker()
        return self

    def _migrate(self) -> None:
        argv = [sys.executable, "-m", "discounts", "migrate"]
        subprocess.run(argv, env=self.env, check=True, capture_output=True, timeout=120)

    def _start_worker(self) -> None:
        argv = [sys.executable, "-m", "discounts", "worker", "--beat", "--concurrency", "1", "--no-deliver"]
        with (self.directory / "worker.log").open("ab") as log:
            self.worker = subprocess.Popen(
                argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def url(self) -> str:
        """An API process that is up (the shoppers' load balancer)."""
        return random.choice(self.apis).url

    def inject(self, fault: str) -> None:
        started = time.monotonic()
        what = getattr(self, fault)()
        self.injected[fault] += 1
        self.log.append(f"{fault}: {what} ({time.monotonic() - started:.1f} s)")

    def kill_master(self) -> str:
        """SIGKILL a master; its replica takes over by itself; the dead node returns as its replica."""
        masters = self.cluster.primaries()
        master = self.rng.choice(masters)
        replica = self.cluster.replica_of(master)
        self.cluster.wait_for_master_link(replica)
        master.kill()
        deadline = time.monotonic() + 60
        while "role:master" not in self.cluster.call(replica, "INFO", "replication"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replica on {replica.port} never took over")
            time.sleep(0.05)
        master.start()  # only now: an empty master back before the failover would take its slots back
        self.cluster.wait_for_master_link(master, timeout=60)
        return f"master {master.port} killed, replica {replica.port} took over"

    def kill_api(self) -> str:
        """SIGKILL an API process mid-request (all of ``serve``); a new one starts in its place."""
        index = self.rng.randrange(len(self.apis))
        killed = self.apis[index]
        os.killpg(killed.proc.pid, signal.SIGKILL)
        self.retired.append(killed)
        self.apis = [api for api in self.apis if api is not killed]
        self.apis.insert(index, Server(self.env, "--no-background"))
        return f"API on {killed.port} killed, a new one on {self.apis[index].port}"

    def drop_replies(self) -> str:
        """For a moment, answers from one master (or from all) are lost, and their links then closed."""
        masters = self.cluster.primaries()
        chosen = masters if self.rng.random() < 0.3 else [self.rng.choice(masters)]
        seconds = round(self.rng.uniform(0.2, 1.0), 2)
        for master in chosen:
            self.proxies[master.port].drop(seconds)
        time.sleep(seconds + 0.1)
        return f"answers of {[master.port for master in chosen]} lost for {seconds} s"

    def restart_postgres(self) -> str:
        """PostgreSQL crashes (every connection cut) and is back a moment later."""
        self.postgres.stop("immediate")
        seconds = round(self.rng.uniform(0.5, 3.0), 2)
        time.sleep(seconds)
        self.postgres.start()
        return f"PostgreSQL down for {seconds} s"

    def logs(self) -> dict[str, str]:
        """What every API process and the worker logged (the killed ones too)."""
        logs = {f"serve-{server.port}": server.log.read_text(errors="replace") for server in self.retired + self.apis}
        logs["worker"] = (self.directory / "worker.log").read_text(errors="replace")
        return logs

    def stop(self) -> dict[str, str]:
        for server in self.apis:
            server.stop()
        if self.worker is not None:
            self.worker.terminate()  # the worker alone: it stops its pool (a signal to the pool too is a lost job)
            try:
                self.worker.wait(timeout=20)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait()
        logs = self.logs() if self.env else {}
        for proxy in self.proxies.values():
            proxy.stop()
        self.cluster.stop()
        self.broker.stop()
        self.postgres.remove()
        return logs
