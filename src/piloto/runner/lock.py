"""On SQLite one runner per database file: an exclusive ``flock`` on ``<db file>.runner.lock``."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from piloto.settings import async_url


class RunnerLockError(RuntimeError):
    """Another process already runs plans on this SQLite database."""


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL (None for in-memory databases)."""
    database = make_url(async_url(url)).database
    if not database or database == ":memory:":
        return None
    return Path(database)


class RunnerLock:
    """Held for the runner's lifetime; the kernel drops it when the process dies (even kill -9)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = db_path.with_name(db_path.name + ".runner.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise RunnerLockError with what to do about it (blocking I/O: use a thread)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunnerLockError(
                f"another Piloto instance is already running plans on {self.db_path}; SQLite supports "
                "one instance — use PostgreSQL (PILOTO_DATABASE_URL) for several"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let another instance start."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
