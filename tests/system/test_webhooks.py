"""Webhooks from the durable record: processes killed with SIGKILL, and every use still reaches the receiver."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.system.conftest import Server, cli_env, descendants
from tests.system.test_faults import brand_headers, open_sale, tokens_for
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.slow


def background_worker(server: Server) -> int:
    """The pid of serve's background worker (a session of its own, with its pool and the deliverer)."""
    for pid in descendants(server.proc.pid):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"worker" in argv and os.getsid(pid) == pid:
                return pid
    raise AssertionError("serve has no background worker")


async def redeem(url: str, tokens: dict[str, str], users: list[str]) -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answers = [
            await http.post(
                "/api/v1/discountcodeusage/",
                json={"code": "faults", "user": user, "amount": "40.00"},
                headers={"Authorization": f"Bearer {tokens[user]}"},
            )
            for user in users
        ]
    assert [a.status_code for a in answers] == [201] * len(users)
    return [a.json() for a in answers]


async def test_uses_reach_the_receiver_though_the_worker_and_the_api_are_killed(tmp_path: Path) -> None:
    receiver = Receiver().start()
    env = cli_env(tmp_path / "data", DISCOUNTS_WEBHOOK_ALLOW_PRIVATE="true")
    users = [f"w{n:03d}" for n in range(60)]
    tokens = tokens_for(users)
    servers = [await asyncio.to_thread(Server, env)]
    try:
        await open_sale(servers[-1].url)
        async with httpx.AsyncClient(base_url=servers[-1].url, timeout=30) as http:
            made = await http.post(
                "/api/v1/webhooks/", json={"url": receiver.url, "events": ["usage.used"]}, headers=brand_headers()
            )
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        used = await redeem(servers[-1].url, tokens, users[:20])
        os.killpg(background_worker(servers[-1]), signal.SIGKILL)  # the worker, its pool and the deliverer
        used += await redeem(servers[-1].url, tokens, users[20:40])  # its supervisor starts another
        os.killpg(servers[-1].proc.pid, signal.SIGKILL)  # and now the API too
        with contextlib.suppress(AssertionError):
            os.killpg(background_worker(servers[-1]), signal.SIGKILL)
        servers.append(await asyncio.to_thread(Server, env))
        used += await redeem(servers[-1].url, tokens, users[40:])

        arrived = await receiver.arrived(60, "usage.used", seconds=90)
        by_usage = {r.verify(secret)["data"]["id"]: r.event["data"] for r in arrived}
        assert by_usage == {answer["id"]: answer for answer in used}  # every use, as its 201 said
    finally:
        for server in servers:
            server.stop()
        receiver.stop()
