"""The embedded broker: every message file appears whole, and each message is taken exactly once."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from discounts.jobs import embedded_broker
from discounts.jobs.broker import broker_transport, broker_transport_options, broker_url
from discounts.settings import Settings

MESSAGES_EACH = 300


def connection(settings: Settings) -> Connection:
    return Connection(
        broker_url(settings),
        transport=broker_transport(settings),
        transport_options=broker_transport_options(settings),
    )


def test_the_embedded_default_uses_the_whole_file_transport(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with connection(settings) as conn:
        assert isinstance(conn.transport, embedded_broker.Transport)


def test_a_message_is_named_only_once_it_is_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kombu's own transport creates the .msg file empty and fills it: a reader in between sees no JSON."""
    settings = Settings(data_dir=tmp_path)
    folder = tmp_path / "broker"
    seen_while_writing: list[list[str]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        seen_while_writing.append([n for n in os.listdir(folder) if n.endswith(".msg")])
        real_fsync(fd)

    monkeypatch.setattr(embedded_broker.os, "fsync", fsync)
    queue = Queue("q", Exchange("x", type="direct"), routing_key="q")
    with connection(settings) as conn:
        conn.SimpleQueue(queue).put({"n": 1})
        assert seen_while_writing, "the message was not written through write_whole"
        assert all(names == [] for names in seen_while_writing)
        assert [n for n in os.listdir(folder) if n.endswith(".msg")] != []
        message = conn.SimpleQueue(queue).get(timeout=1)
        assert message.payload == {"n": 1}
        message.ack()
    assert [n for n in os.listdir(folder) if n.endswith(".msg")] == []


def produce(data_dir: str, start: int) -> None:
    settings = Settings(data_dir=Path(data_dir))
    queue = Queue("q", Exchange("x", type="direct"), routing_key="q")
    with connection(settings) as conn:
        producer = conn.SimpleQueue(queue)
        for n in range(start, start + MESSAGES_EACH):
            producer.put({"n": n, "padding": "x" * 2000})


def consume(data_dir: str, expected: int, results: Any) -> None:
    settings = Settings(data_dir=Path(data_dir))
    queue = Queue("q", Exchange("x", type="direct"), routing_key="q")
    taken: list[int] = []
    with connection(settings) as conn:
        consumer = conn.SimpleQueue(queue)
        idle = 0
        while idle < 40:
            try:
                message = consumer.get(timeout=0.05)
            except consumer.Empty:
                idle += 1
                continue
            idle = 0
            taken.append(message.payload["n"])
            message.ack()
    results.put(taken)


def test_two_producers_and_two_consumers_deliver_each_message_exactly_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    total = 2 * MESSAGES_EACH
    consumers = [ctx.Process(target=consume, args=(str(tmp_path), total, results)) for _ in range(2)]
    producers = [ctx.Process(target=produce, args=(str(tmp_path), i * MESSAGES_EACH)) for i in range(2)]
    for p in consumers + producers:
        p.start()
    taken = [n for _ in consumers for n in results.get(timeout=120)]
    for p in consumers + producers:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sorted(taken) == list(range(total))
