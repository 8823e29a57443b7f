"""The embedded store's writers take turns through the ``-writer`` lock, across processes too."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

from discounts.usage.embedded import SQLiteUsageStore
from discounts.usage.store import Outcome
from tests.usage.conftest import EXPIRES, NOW, usage


async def test_a_claim_waits_for_the_writer_before_it_and_goes_as_soon_as_it_is_done(tmp_path: Path) -> None:
    path = str(tmp_path / "usages.sqlite3")
    store = SQLiteUsageStore(path)
    try:
        await store.ping()
        other_writer = os.open(path + "-writer", os.O_RDWR)  # another process's turn, as the kernel sees it
        fcntl.flock(other_writer, fcntl.LOCK_EX)
        claim = asyncio.ensure_future(store.record(usage("u-1"), expires_at=EXPIRES))
        await asyncio.sleep(0.3)
        assert not claim.done()

        fcntl.flock(other_writer, fcntl.LOCK_UN)
        os.close(other_writer)
        recorded = await asyncio.wait_for(claim, timeout=10)
        assert recorded.outcome is Outcome.CLAIMED
        assert await store.used_at("SPRING", "u-1", now=NOW) == NOW
    finally:
        await store.close()
