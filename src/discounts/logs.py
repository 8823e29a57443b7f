"""One logging setup for every process: API, worker, CLI; text for terminals, JSON for collectors.

Every record carries the id of the request it was logged in (``request_id``, set by the API's
middleware) and, in the worker, the task it was logged in. Libraries that speak once per
second or per task (Celery's beat and task trace, Alembic) are kept to warnings unless the
level is ``debug``.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import os
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from discounts.settings import Settings

#: The current request's id; the API's middleware sets it, every record logged meanwhile carries it.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

#: The one structured line per HTTP request goes here (INFO; WARNING when ``access_log`` is off).
access_logger = logging.getLogger("discounts.access")

#: Loggers that speak every second or on every task at INFO: warnings only, unless the level is debug.
CHATTY_LOGGERS = (
    "celery.beat",  # "Scheduler: Sending due task ..." every second
    "celery.app.trace",  # "Task ... succeeded in ..."
    "celery.worker.strategy",  # "Task ... received"
    "celery.worker.request",  # "Discarding revoked task" (a periodic message that expired), "retry"
    "alembic",  # "Context impl SQLiteImpl." on every start
)

#: Loggers that flood even at debug (one line per SQLite call); they never go below INFO.
NEVER_DEBUG = ("aiosqlite", "asyncio", "filelock", "multipart")

MAX_REQUEST_ID_LENGTH = 128

#: Attributes every LogRecord has; anything else on a record came from ``extra`` (or a filter).
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
    "request_id",
    "task",
    "task_id",
}


def new_request_id() -> str:
    """64 random bits: unique enough to find a request's lines, and made without a system call.

    A request id is no secret (a client may choose its own), so ``random`` will do; the
    module's generator is seeded again after ``fork``, so two processes never share a sequence.
    """
    return f"{random.getrandbits(64):016x}"


def accept_request_id(value: str | None) -> str:
    """The client's ``X-Request-ID`` if it is safe to log and echo, else a new one.

    Safe: 1–128 printable ASCII characters without spaces, so it cannot forge log lines or headers.
    """
    if value and len(value) <= MAX_REQUEST_ID_LENGTH and value.isascii() and value.isprintable() and " " not in value:
        return value
    return new_request_id()


def log_request(method: str, path: str, status: int, seconds: float) -> None:
    """The access line: ``GET /api/v1/... 201 1.3 ms``, with each part as a field in JSON."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    milliseconds = round(seconds * 1000, 2)
    # makeRecord + handle instead of .info(): skips the stack walk that finds the caller's line.
    record = access_logger.makeRecord(
        access_logger.name,
        logging.INFO,
        __file__,
        0,
        f"{method} {path} {status} {milliseconds:.1f} ms",
        (),
        None,
        extra={"method": method, "path": path, "status": status, "duration_ms": milliseconds},
    )
    access_logger.handle(record)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or None) on every record, for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class TaskFilter(logging.Filter):
    """In a Celery worker, puts the running task's name and id on every record logged inside it."""

    def __init__(self) -> None:
        super().__init__()
        from celery import current_task

        self._current = current_task

    def filter(self, record: logging.LogRecord) -> bool:
        if self._current and self._current.request.id is not None:
            record.task = self._current.name
            record.task_id = self._current.request.id
        return True


class _SecondCache:
    """Formatting a timestamp costs more than the rest of a short line: do it once per second."""

    def __init__(self, render: Callable[[int], str]) -> None:
        self._render = render
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second, self._text = second, self._render(second)
        return f"{self._text}.{int((created - second) * 1000):03d}"


class TextFormatter(logging.Formatter):
    """``2026-12-01 21:12:05.118 INFO    discounts.access: GET / 200 0.4 ms [3f2a…]``, in local time."""

    def __init__(self) -> None:
        super().__init__()
        self._time = _SecondCache(lambda second: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)))

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self._time(record.created)} {record.levelname:<7} {record.name}: {record.getMessage().rstrip()}"
        context = _context(record)
        if context:
            line += f" [{context}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _context(record: logging.LogRecord) -> str:
    request = getattr(record, "request_id", None)
    if request:
        return str(request)
    task = getattr(record, "task", None)
    if task:
        return f"{task} {getattr(record, 'task_id', '')}"
    return ""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601 UTC), level, logger, msg, request_id, extras, exc_info."""

    def __init__(self) -> None:
        super().__init__()
        self._time = _SecondCache(lambda second: datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._time(record.created) + "Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "task", "task_id"):
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def logging_config(settings: Settings, *, worker: bool = False) -> dict[str, Any]:
    """The ``dictConfig`` of our logging; uvicorn applies it again in each API process it spawns."""
    level = settings.log_level.upper()
    debug = settings.log_level == "debug"
    filters: dict[str, Any] = {"request_id": {"()": RequestIdFilter}}
    if worker:
        filters["task"] = {"()": TaskFilter}
    loggers: dict[str, Any] = {
        # uvicorn's access line is replaced by ours (log_request); its lifecycle lines stay.
        "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        "uvicorn": {"level": level, "handlers": [], "propagate": True},
        access_logger.name: {"level": level if settings.access_log else "WARNING"},
        # Celery's pool (billiard) logs here with propagation off: give it our handler, or its
        # errors ("Process ... exited with ...") reach stderr raw.
        "multiprocessing": {"level": level if debug else "ERROR", "handlers": ["stderr"], "propagate": False},
    }
    for name in CHATTY_LOGGERS:
        loggers[name] = {"level": level if debug else "WARNING"}
    for name in NEVER_DEBUG:
        loggers[name] = {"level": "INFO" if debug else level}
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": filters,
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": list(filters),
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": loggers,
    }


def configure_logging(settings: Settings, *, worker: bool = False) -> None:
    """Set up this process's logging; ``worker=True`` also keeps Celery from setting up its own."""
    logging.config.dictConfig(logging_config(settings, worker=worker))
    logging.captureWarnings(True)
    if worker:
        _quiet_celery()


def _quiet_celery() -> None:
    """Celery configures logging unless someone answers its signal, and prints its shutdown notices raw."""
    import celery.apps.worker
    from celery.signals import setup_logging

    setup_logging.connect(_keep_our_logging, weak=False)
    celery.apps.worker.safe_say = _say  # type: ignore[attr-defined]


def _keep_our_logging(**_: Any) -> None:
    """A receiver of Celery's ``setup_logging``: its presence alone stops Celery's own setup."""


def _say(msg: str, f: Any = None) -> None:
    """Celery's notices from signal handlers ("worker: Warm shutdown") as log lines.

    Formatted and written with one ``os.write``, as Celery does: a signal handler must not take
    the logging locks the interrupted code may hold.
    """
    record = logging.LogRecord("celery.worker", logging.INFO, __file__, 0, msg.strip(), (), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.formatter is not None:
            # Best effort, as Celery's own: losing a notice must not stop the shutdown.
            with contextlib.suppress(OSError, ValueError):
                os.write(handler.stream.fileno(), (handler.formatter.format(record) + "\n").encode())
            return


def redact_url(url: str) -> str:
    """The URL without its password, for logs: ``amqp://guest:***@host//``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    netloc, slash, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{hosts}{slash}{path}"
