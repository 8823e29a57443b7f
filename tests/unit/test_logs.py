"""Log lines: JSON for collectors, text for terminals, the request id on both, ids that are safe."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery

from discounts import logs
from discounts.cli import listen_url, public_url_for
from discounts.jobs.queue import TaskPublisher
from discounts.settings import Settings


@contextmanager
def capturing(name: str) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """One logger writing through our filters to a string, so the process's logging stays as it was."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    logger = logging.getLogger(name)
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    with capturing("tests.logs") as logger_and_stream:
        yield logger_and_stream


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_parse_and_carry_the_request_id_and_extras(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.handlers[0].setFormatter(logs.JsonFormatter())
    token = logs.request_id.set("req-42")
    try:
        logger.info("redeemed %s", "SPRING", extra={"user": "u-1", "amount": 12})
        try:
            raise ValueError("broken\nacross lines")
        except ValueError:
            logger.exception("failed")
    finally:
        logs.request_id.reset(token)
    logger.warning("outside any request")

    first, second, third = (json.loads(line) for line in lines(stream))
    assert first["msg"] == "redeemed SPRING"
    assert (first["level"], first["logger"], first["request_id"]) == ("INFO", "tests.logs", "req-42")
    assert (first["user"], first["amount"]) == ("u-1", 12)
    stamp = datetime.fromisoformat(first["ts"])
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)
    assert "ValueError: broken" in second["exc_info"]
    assert second["request_id"] == "req-42"
    assert "request_id" not in third
    assert "exc_info" not in third


def test_text_lines_are_one_line_with_the_request_id_at_the_end(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.handlers[0].setFormatter(logs.TextFormatter())
    token = logs.request_id.set("abc123")
    try:
        logger.info("hello %d", 7, extra={"hidden": "only in JSON"})
    finally:
        logs.request_id.reset(token)
    logger.warning("a warning as Python prints them, ending in a newline\n")
    line, warning = lines(stream)
    assert line.endswith(" INFO    tests.logs: hello 7 [abc123]")
    assert "only in JSON" not in line
    assert warning.endswith("WARNING tests.logs: a warning as Python prints them, ending in a newline")


def test_the_access_line_has_its_fields_and_is_off_below_info() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestIdFilter())
    logger = logs.access_logger
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.setLevel(logging.INFO)
        token = logs.request_id.set("r-1")
        logs.log_request("POST", "/api/v1/discountcodeusage/", 201, 0.00125)
        logs.request_id.reset(token)
        logger.setLevel(logging.WARNING)
        logs.log_request("GET", "/healthz", 200, 0.001)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    (line,) = lines(stream)
    entry = json.loads(line)
    assert entry["msg"] == "POST /api/v1/discountcodeusage/ 201 1.2 ms"
    assert (entry["method"], entry["path"], entry["status"], entry["duration_ms"]) == (
        "POST",
        "/api/v1/discountcodeusage/",
        201,
        1.25,
    )
    assert (entry["logger"], entry["request_id"]) == ("discounts.access", "r-1")


def test_worker_lines_name_their_task(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.handlers[0].setFormatter(logs.JsonFormatter())
    logger.handlers[0].addFilter(logs.TaskFilter())
    app = Celery("tests", set_as_current=False)

    @app.task(name="tests.say")
    def say() -> None:
        logger.info("inside")

    say.apply(task_id="t-1")
    logger.info("outside")
    inside, outside = (json.loads(line) for line in lines(stream))
    assert (inside["task"], inside["task_id"]) == ("tests.say", "t-1")
    assert "task" not in outside


def test_a_warning_from_the_publishing_thread_carries_the_request_id() -> None:
    class UnreachableBroker:
        def send_task(self, *args: object, **kwargs: object) -> None:
            raise ConnectionError("broker down")

    publisher = TaskPublisher(UnreachableBroker())  # type: ignore[arg-type]
    with capturing("discounts.jobs.queue") as (logger, stream):
        logger.handlers[0].setFormatter(logs.JsonFormatter())
        token = logs.request_id.set("r-publish")
        publisher.soon("discounts.notify.plan_fanout", "SPRING")
        logs.request_id.reset(token)
        deadline = time.monotonic() + 10
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    publisher.close()
    entry = json.loads(lines(stream)[0])
    assert (entry["level"], entry["request_id"]) == ("WARNING", "r-publish")
    assert "broker down" in entry["msg"]
    assert "exc_info" not in entry  # an unreachable broker is an operator's warning, not a traceback


@pytest.mark.parametrize(
    "sane", ["abc", "0f1e2d3c4b5a6978", "x" * 128, "a.b_c:d/e=f+g~h", "123e4567-e89b-12d3-a456-426614174000"]
)
def test_a_sane_request_id_is_kept(sane: str) -> None:
    assert logs.accept_request_id(sane) == sane


@pytest.mark.parametrize(
    "junk", [None, "", "a b", "x" * 129, "line\nbreak", "tab\there", "cr\r\nX-Injected: 1", "caf\u00e9", "del\x7f"]
)
def test_junk_request_ids_are_replaced(junk: str | None) -> None:
    replaced = logs.accept_request_id(junk)
    assert replaced != junk
    assert logs.accept_request_id(replaced) == replaced


def test_new_request_ids_differ() -> None:
    assert len({logs.new_request_id() for _ in range(1000)}) == 1000


def test_chatty_loggers_are_quiet_unless_debugging() -> None:
    info = logs.logging_config(Settings(_env_file=None))  # type: ignore[call-arg]
    debug = logs.logging_config(Settings(log_level="DEBUG", _env_file=None))  # type: ignore[call-arg]
    for name in ("celery.beat", "celery.app.trace", "celery.worker.strategy", "celery.worker.request"):
        assert info["loggers"][name]["level"] == "WARNING"
        assert debug["loggers"][name]["level"] == "DEBUG"
    assert info["root"]["level"] == "INFO"
    assert info["loggers"]["uvicorn.access"]["propagate"] is False


def test_the_access_line_is_off_unless_turned_on() -> None:
    off = logs.logging_config(Settings(_env_file=None))  # type: ignore[call-arg]
    on = logs.logging_config(Settings(access_log=True, _env_file=None))  # type: ignore[call-arg]
    assert on["loggers"]["discounts.access"]["level"] == "INFO"
    assert off["loggers"]["discounts.access"]["level"] == "WARNING"


def test_log_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCOUNTS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("DISCOUNTS_LOG_FORMAT", "json")
    monkeypatch.setenv("DISCOUNTS_ACCESS_LOG", "true")
    settings = Settings()
    assert (settings.log_level, settings.log_format, settings.access_log) == ("warning", "json", True)
    monkeypatch.setenv("DISCOUNTS_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+asyncpg://app:s3cret@db:5432/discounts", "postgresql+asyncpg://app:***@db:5432/discounts"),
        ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("smtp://user@relay:587?starttls=true", "smtp://user@relay:587?starttls=true"),
        ("redis+cluster://u:p@h1:7000,h2:7001", "redis+cluster://u:***@h1:7000,h2:7001"),
        ("sqlite+aiosqlite:////var/lib/a@b/discounts.sqlite3", "sqlite+aiosqlite:////var/lib/a@b/discounts.sqlite3"),
    ],
)
def test_urls_are_logged_without_their_password(url: str, shown: str) -> None:
    assert logs.redact_url(url) == shown


def test_the_public_url_follows_the_listen_address() -> None:
    assert public_url_for("127.0.0.1", 8123) == "http://127.0.0.1:8123"
    assert public_url_for("::1", 8123) == "http://[::1]:8123"
    assert public_url_for("0.0.0.0", 80) == f"http://{socket.gethostname()}:80"
    assert public_url_for("::", 80) == f"http://{socket.gethostname()}:80"
    assert listen_url("::", 80) == "http://[::]:80"
