"""Automatic pipelining: the script calls that arrive together leave together, in one pipeline.

A flash sale means many redemptions in flight in each process. Sent one by one, each costs
the client a write and a read (redis-py's per-command cost dominates, not Redis'); queued
for one turn of the event loop and sent as one pipeline, hundreds share them. A lone call
waits for no one: its batch is flushed on the next turn of the loop.

On one Redis (not a cluster) the batch skips redis-py's ``Pipeline``: its per-command packing,
its bookkeeping for server features we do not use and a timeout per reply cost a redemption
more than the round trip (py-spy, benchmarks/README.md). The calls are packed here into one
write, the replies read from one pooled connection under one timeout. That also means no
automatic retry once the batch is sent: a claim Redis applied before the connection broke
must not be sent again and answered "used before".

With ``min_replicas`` (``DISCOUNTS_USAGE_MIN_REPLICAS``) a batch that wrote ends with ``WAIT``:
Redis answers it once that many replicas have every write sent before it on the connection,
so one round trip covers the whole batch. A write is acknowledged to its caller only then; if
the replicas do not confirm in time, the writers get :class:`NotReplicated` (a 503 to retry:
the write may be on the primary alone, and a failover could lose it).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: A script, its arguments, the caller's future, and whether the script may write.
Call = tuple[AsyncScript, Sequence[Any], "asyncio.Future[Any]", bool]


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
        if min_replicas and not isinstance(client, Redis):
            raise ValueError("DISCOUNTS_USAGE_MIN_REPLICAS needs one Redis (with replicas), not a Redis Cluster")
        self._client = client
        self._in_flight = in_flight
        self._max_batch = max_batch
        self._min_replicas, self._replica_timeout_ms = min_replicas, replica_timeout_ms
        self._queue: list[Call] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

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
                    script.sha = await self._client.script_load(script.script)
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
        if isinstance(self._client, Redis):
            return await self._execute_on_one_server(self._client, batch)
        pipe = self._client.pipeline(transaction=False)
        for script, arguments, _, _ in batch:
            pipe.execute_command("EVALSHA", script.sha, *arguments)
        async with self._in_flight:
            return list(await pipe.execute(raise_on_error=False))

    async def _execute_on_one_server(self, client: Redis, batch: list[Call]) -> list[Any]:
        """One write of every call, then their replies in order; a Redis error is that call's reply."""
        packed = b"".join(pack_evalsha(script.sha, arguments) for script, arguments, _, _ in batch)
        wait = self._min_replicas > 0 and any(writes for *_, writes in batch)
        if wait:
            packed += pack_command("WAIT", self._min_replicas, self._replica_timeout_ms)
        pool = client.connection_pool
        async with self._in_flight:
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                replies: list[Any] = []
                timeout = connection.socket_timeout
                try:
                    async with asyncio.timeout(timeout):
                        await connection.send_packed_command(packed, check_health=False)
                        for _ in batch:
                            try:
                                replies.append(await connection.read_response(timeout=math.inf))
                            except ResponseError as refused:  # the connection stays in step: go on
                                replies.append(refused)
                        if wait:
                            replicated = int(await connection.read_response(timeout=math.inf))
                except TimeoutError:
                    raise RedisTimeoutError(f"no reply from Redis within {timeout} s") from None
                except BaseException:
                    # Replies may be left unread (a timeout, a cancellation): the connection is out of step.
                    await connection.disconnect(nowait=True)
                    raise
            finally:
                await pool.release(connection)
        if wait and replicated < self._min_replicas:
            shortfall = NotReplicated(
                f"{replicated} of {self._min_replicas} replicas confirmed the write in {self._replica_timeout_ms} ms"
            )
            replies = [shortfall if writes else reply for (*_, writes), reply in zip(batch, replies, strict=True)]
        return replies


def pack_evalsha(sha: str, arguments: Sequence[Any]) -> bytes:
    """``EVALSHA sha numkeys key… arg…`` in RESP, as redis-py's encoder would send it (str, bytes, int)."""
    return pack_command("EVALSHA", sha, *arguments)


def pack_command(*arguments: Any) -> bytes:
    """A command in RESP (str, bytes, int), by hiredis's packer in C: a cart's call has dozens of arguments."""
    return hiredis.pack_command(arguments)
