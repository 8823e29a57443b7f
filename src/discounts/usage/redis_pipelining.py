"""Automatic pipelining: the script calls that arrive together leave together, in one write.

A flash sale means many redemptions in flight in each process. Sent one by one, each costs
the client a write and a read (redis-py's per-command cost dominates, not Redis'); queued
for one turn of the event loop and sent as one pipeline, hundreds share them. A lone call
waits for no one: its batch is flushed on the next turn of the loop.

The batch skips redis-py's pipelines: their per-command packing, their bookkeeping for server
features we do not use and a timeout per reply cost a redemption more than the round trip
(py-spy, benchmarks/README.md). The calls are packed here into one write, the replies read
from one pooled connection under one timeout. That also means **no automatic retry once a
batch is sent**: a claim Redis applied before the connection broke must not be sent again and
answered "used before" — redis-py's ``ClusterPipeline`` does send a whole batch again after a
connection error. A broken connection fails only the calls that were on it, with
:class:`StoreUnreachable` (a 503 to retry), whatever the client library raised (a
``ConnectionError``, or an ``AttributeError`` when another task closed the connection under
it, or uvloop's ``RuntimeError`` for a closed handle).

On a Redis Cluster the batch is split by the node that owns each call's slot (the first key
decides; redis-py's slot map says which node), and each node's part goes as one write on one
of that node's pooled connections, all nodes at once. A ``MOVED`` or ``ASK`` reply means the
node did not run the call: the slot map is corrected and only those calls are sent on, which
is safe. A node that could not be reached makes the next batch read the slot map afresh (a
failover promoted its replica).

With ``min_replicas`` (``DISCOUNTS_USAGE_MIN_REPLICAS``) each write that carries a writing call
ends with ``WAIT``: Redis answers it once that many replicas have every write sent before it on
the connection, so one round trip covers the whole batch (on a cluster, each node's part, for
that node's replicas). A write is acknowledged to its caller only then; if the replicas do not
confirm in time, the writers get :class:`NotReplicated` (a 503 to retry: the write may be on
the primary alone, and a failover could lose it).
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import AskError, MovedError, NoScriptError, RedisClusterException, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from discounts.errors import StoreUnreachable, client_failures

#: A script, its arguments (``numkeys key… arg…``), the caller's future, and whether the script may write.
Call = tuple[AsyncScript, Sequence[Any], "asyncio.Future[Any]", bool]
#: Rounds of MOVED/ASK redirections a batch follows (a slot moves once per failover or migration).
REDIRECTS = 5


class NotReplicated(RedisConnectionError):
    """Fewer replicas than ``min_replicas`` confirmed a write in time: it is not acknowledged."""


class AutoPipeline:
    def __init__(
        self,
        client: Redis | RedisCluster,
        in_flight: asyncio.Semaphore,
        max_batch: int = 500,
        *,
        min_replicas: int = 0,
        replica_timeout_ms: int = 500,
    ) -> None:
        self.client = client
        self._in_flight = in_flight
        self._max_batch = max_batch
        self._min_replicas, self._replica_timeout_ms = min_replicas, replica_timeout_ms
        self._queue: list[Call] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_map_stale = False
        self._slot_map_lock = asyncio.Lock()

    async def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any], *, writes: bool = True) -> Any:
        """The script's reply; with ``writes``, once the replicas asked for have the write too."""
        return await self.submit(script, keys, args, writes=writes)

    def submit(
        self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any], *, writes: bool = True
    ) -> asyncio.Future[Any]:
        """Queue the call and return its reply's future: several calls await together without a task each."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((script, [len(keys), *keys, *args], future, writes))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._start_flush)
        return future

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            task = asyncio.create_task(self._send(batch))
            self._tasks.add(task)  # keep a reference until done (the loop holds only weak ones)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[Call]) -> None:
        try:
            replies = await self._execute(batch)
            lost = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if lost:  # the server restarted or was flushed: load the scripts once, send those calls again
                for script in {id(batch[i][0]): batch[i][0] for i in lost}.values():
                    with client_failures("loading a script into Redis failed"):
                        script.sha = await self.client.script_load(script.script)
                for i, reply in zip(lost, await self._execute([batch[i] for i in lost]), strict=True):
                    replies[i] = reply
        except Exception as exc:  # noqa: BLE001 - not swallowed: every caller in the batch gets it
            for _, _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future, _), reply in zip(batch, replies, strict=True):
            if future.done():  # the caller gave up (cancelled); the claim stands regardless
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, batch: list[Call]) -> list[Any]:
        """One reply per call, in order; a Redis error or a failed connection is that call's reply."""
        if isinstance(self.client, Redis):
            pool = self.client.connection_pool
            async with self._in_flight:
                connection = await pool.get_connection()  # type: ignore[no-untyped-call]
                try:
                    return await self._exchange(connection, batch, [False] * len(batch))
                finally:
                    await pool.release(connection)
        return await self._execute_on_cluster(self.client, batch)

    async def _execute_on_cluster(self, client: RedisCluster, batch: list[Call]) -> list[Any]:
        """Each node's calls in one write; calls a node did not run (MOVED, ASK) sent on to the right one."""
        replies: list[Any] = [None] * len(batch)
        asked: dict[int, ClusterNode] = {}  # a call an ASK sent to a node for one try
        todo = list(range(len(batch)))
        for _ in range(REDIRECTS):
            parts: dict[ClusterNode, list[tuple[int, bool]]] = defaultdict(list)
            try:
                with client_failures("reading the Redis Cluster's slots failed"):
                    await self._read_slot_map(client)
                for i in todo:
                    target = asked.pop(i, None)
                    parts[target or _owner(client, batch[i][1])].append((i, target is not None))
            except (
                RedisClusterException,
                RedisError,
            ) as exc:  # no map of the cluster to route by (StoreUnreachable too)
                self._slot_map_stale = True
                unreachable = StoreUnreachable(f"cannot route calls on the Redis Cluster: {exc!r}")
                return [unreachable if i in set(todo) else reply for i, reply in enumerate(replies)]
            answers = await asyncio.gather(
                *(
                    self._execute_on_node(node, [batch[i] for i, _ in part], [ask for _, ask in part])
                    for node, part in parts.items()
                )
            )
            todo = []
            for part, node_replies in zip(parts.values(), answers, strict=True):
                for (i, _), reply in zip(part, node_replies, strict=True):
                    replies[i] = reply
                    if isinstance(reply, MovedError):
                        await client.nodes_manager.move_slot(reply)
                        todo.append(i)
                    elif isinstance(reply, AskError):
                        target = client.get_node(host=reply.host, port=reply.port)
                        if target is None:
                            self._slot_map_stale = True
                        else:
                            asked[i] = target
                        todo.append(i)
            if not todo:
                return replies
        for i in todo:  # still sent elsewhere: the slots are moving, try again in a moment
            replies[i] = StoreUnreachable(f"the Redis Cluster redirected a call {REDIRECTS} times: {replies[i]}")
        return replies

    async def _read_slot_map(self, client: RedisCluster) -> None:
        """Learn the cluster's slots once, and again after a node could not be reached."""
        await client.initialize()  # nothing to do once the client has its map
        if self._slot_map_stale:
            async with self._slot_map_lock:
                if self._slot_map_stale:
                    await client.nodes_manager.initialize()
                    self._slot_map_stale = False

    async def _execute_on_node(self, node: ClusterNode, calls: list[Call], asking: list[bool]) -> list[Any]:
        async with self._in_flight:
            try:
                connection = node.acquire_connection()
            except RedisConnectionError as exc:  # its pool is full
                return [exc] * len(calls)
            try:
                with client_failures("the connection to a Redis Cluster node failed"):
                    await node.disconnect_if_needed(connection)  # marked by a change of the slot map
                replies = await self._exchange(connection, calls, asking)
            except RedisConnectionError as exc:  # StoreUnreachable too: the node's calls get it, others stand
                replies = [exc] * len(calls)
            finally:
                node.release(connection)
        if any(isinstance(reply, StoreUnreachable) for reply in replies):
            self._slot_map_stale = True  # the node may be gone: a failover has another node take its slots
        return replies

    async def _exchange(self, connection: AbstractConnection, calls: list[Call], asking: list[bool]) -> list[Any]:
        """One write of every call (``ASKING`` before those in ``asking``, ``WAIT`` after), then the replies."""
        packed = b"".join(
            (ASKING if ask else b"") + pack_evalsha(script.sha, arguments)
            for (script, arguments, _, _), ask in zip(calls, asking, strict=True)
        )
        wait = self._min_replicas > 0 and any(writes for *_, writes in calls)
        if wait:
            packed += pack_command("WAIT", self._min_replicas, self._replica_timeout_ms)
        replies: list[Any] = []
        timeout = connection.socket_timeout
        try:
            async with asyncio.timeout(timeout):
                await connection.send_packed_command(packed, check_health=False)
                for ask in asking:
                    if ask:
                        await _reply(connection)  # ASKING's OK
                    replies.append(await _reply(connection))
                replicated = int(await connection.read_response(timeout=math.inf)) if wait else 0
        except BaseException as exc:
            # Replies may be left unread (a timeout, a cancellation): the connection is out of step.
            await connection.disconnect(nowait=True)
            if isinstance(exc, TimeoutError):
                raise StoreUnreachable(f"no reply from Redis within {timeout} s") from None
            if isinstance(exc, Exception):
                raise StoreUnreachable(f"the connection to Redis failed: {exc!r}") from exc
            raise
        if wait and replicated < self._min_replicas:
            shortfall = NotReplicated(
                f"{replicated} of {self._min_replicas} replicas confirmed the write in {self._replica_timeout_ms} ms"
            )
            replies = [shortfall if writes else reply for (*_, writes), reply in zip(calls, replies, strict=True)]
        return replies


async def _reply(connection: AbstractConnection) -> Any:
    """The next reply; a Redis error is the reply (the connection stays in step)."""
    try:
        return await connection.read_response(timeout=math.inf)
    except ResponseError as refused:
        return refused


def _owner(client: RedisCluster, arguments: Sequence[Any]) -> ClusterNode:
    """The primary of the slot of the call's first key (any node for a call without keys)."""
    if not arguments[0]:
        return client.get_default_node()
    return client.nodes_manager.get_node_from_slot(client.keyslot(arguments[1]))


def pack_evalsha(sha: str, arguments: Sequence[Any]) -> bytes:
    """``EVALSHA sha numkeys key… arg…`` in RESP, as redis-py's encoder would send it (str, bytes, int)."""
    return pack_command("EVALSHA", sha, *arguments)


def pack_command(*arguments: Any) -> bytes:
    """A command in RESP (str, bytes, int), by hiredis's packer in C: a cart's call has dozens of arguments."""
    return hiredis.pack_command(arguments)


ASKING = pack_command("ASKING")
