"""The embedded default's broker: kombu's filesystem transport, made safe for two processes.

kombu's own transport writes a message by creating its file and then filling it, and a
consumer may take the file in between: it reads an empty message, and the worker dies of a
``JSONDecodeError`` (kombu #1551; CI saw it once a few hundred runs). Its exchange tables
are rewritten in place the same way. Here every file appears whole or not at all: it is
written under a name no reader looks at, flushed, and renamed into place (``os.replace`` is
atomic on one file system). A consumer claims a message by renaming it into a folder of the
broker's own — on the same file system, so the claim is atomic too, and exactly one consumer
wins it — where kombu moved it to the system's temporary folder, a copy across file systems.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

CLAIMED = "claimed"


def write_whole(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees either nothing (or the old file) or all of it."""
    path = Path(path)
    scratch = path.with_name(f".{uuid.uuid4().hex}.tmp")
    with open(scratch, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(scratch, path)


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(time.monotonic() * 1000):015d}_{uuid.uuid4()}.{queue}.msg"
        try:
            write_whole(Path(self.data_folder_out) / name, dumps(payload).encode())
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc

    @cached_property
    def claimed_folder(self) -> Path:
        """Where a consumer moves the message it takes; made once, not on every poll."""
        folder = Path(self.data_folder_in) / CLAIMED
        folder.mkdir(exist_ok=True)
        return folder

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        wanted = f"{queue}.msg"
        folder = Path(self.data_folder_in)
        claimed = self.claimed_folder
        for name in sorted(os.listdir(folder)):
            if name.partition(".")[2] != wanted:
                continue
            mine = claimed / name
            try:
                os.rename(folder / name, mine)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                payload = mine.read_bytes()
                mine.unlink()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {name!r} from queue.") from exc
            return loads(payload.decode())
        raise Empty()

    @contextmanager
    def _table_lock(self, exchange: str) -> Iterator[Path]:
        """The exchange table's own lock: readers need none, since the table is replaced whole."""
        file: Path = self._exchange_file(exchange)  # type: ignore[attr-defined]
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(file.with_name(file.name + ".lock"), "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield file
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def get_table(self, exchange: str) -> list[Any]:
        file: Path = self._exchange_file(exchange)  # type: ignore[attr-defined]
        try:
            return [filesystem.exchange_queue_t(*q) for q in loads(file.read_text())]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _queue_bind(self, exchange: str, routing_key: str | None, pattern: str | None, queue: str | None) -> None:
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange) as file:
            queues = self.get_table(exchange)
            if entry not in queues:
                write_whole(file, dumps([entry, *queues]).encode())

    def _delete(self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any) -> None:
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange) as file:
            queues = self.get_table(exchange)
            if entry in queues:
                write_whole(file, dumps([q for q in queues if q != entry]).encode())


class Transport(filesystem.Transport):
    Channel = Channel
    driver_name = "discounts-filesystem"

    @property
    def default_connection_params(self) -> dict[str, Any]:
        """No host: a folder needs none (kombu warned "No hostname was supplied" on every connection)."""
        return {"port": self.default_port}
