"""Automatic pipelining: the script calls that arrive together leave together, in one pipeline.

A flash sale means many redemptions in flight in each process. Sent one by one, each costs
the client a write and a read (redis-py's per-command cost dominates, not Redis'); queued
for one turn of the event loop and sent as one pipeline, hundreds share them. A lone call
waits for no one: its batch is flushed on the next turn of the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

Call = tuple[AsyncScript, Sequence[Any], "asyncio.Future[Any]"]


class AutoPipeline:
    def __init__(self, client: Redis | RedisCluster, in_flight: asyncio.Semaphore, max_batch: int = 500) -> None:
        self._client = client
        self._in_flight = in_flight
        self._max_batch = max_batch
        self._queue: list[Call] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((script, [len(keys), *keys, *args], future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)
        return await future

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
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the caller gave up (cancelled); the claim stands regardless
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, batch: list[Call]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for script, arguments, _ in batch:
            pipe.execute_command("EVALSHA", script.sha, *arguments)
        async with self._in_flight:
            return list(await pipe.execute(raise_on_error=False))
