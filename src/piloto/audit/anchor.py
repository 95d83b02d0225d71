"""The audit chain's key and head: HMAC keying, the head row's MAC, the head file mirror.

The key is derived from the instance's secret key (never stored in the database), so the
chain cannot be rewritten from the database alone. The head (count, last id, last hash) is
kept in ``audit_head`` in each append's transaction and, after commit, mirrored to
``audit-head.json`` in the data directory: deleting the newest records is then visible.

The mirror is written by one thread per file, at most once per ``MIRROR_INTERVAL_S`` (the
newest head wins) and on shutdown: rewriting it after every append cost half as much CPU as
the SQLite writer itself. A crash leaves it up to one interval behind the table, which
``verify`` accepts (the mirror may lag, never lead); the head row anchors that tail.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import queue
import tempfile
import threading
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from piloto.store.db import after_commit

log = logging.getLogger("piloto.audit")

HMAC_ALG = "hmac-sha256"
HEAD_FILE = "audit-head.json"
# How stale the mirror may be after a crash, against how often it is rewritten in a busy run.
MIRROR_INTERVAL_S = 0.2
_IDLE_S = 10.0  # a mirror's thread ends after this long without a head (a new one starts)


@dataclass(frozen=True)
class AuditConfig:
    """How this engine's audit records are keyed and where the head is mirrored."""

    key: bytes | None
    head_file: Path | None
    mirror: HeadMirror | None = None


@dataclass(frozen=True)
class Head:
    """The newest record as the chain's head knows it."""

    count: int
    last_id: int
    last_hash: str
    mac: str


_CONFIGS: weakref.WeakKeyDictionary[Engine, AuditConfig] = weakref.WeakKeyDictionary()
_FILE_LOCK = threading.Lock()
_MIRRORS: dict[Path, HeadMirror] = {}
_MIRRORS_LOCK = threading.Lock()


def keyed_hash(key: bytes, prev_hash: str, body: str) -> str:
    """HMAC-SHA256 of one record's link and canonical JSON."""
    return hmac.new(key, (prev_hash + body).encode(), hashlib.sha256).hexdigest()


def head_mac(key: bytes, count: int, last_id: int, last_hash: str) -> str:
    """The MAC that makes a head unforgeable without the key."""
    return hmac.new(
        key, f"audit-head:{count}:{last_id}:{last_hash}".encode(), hashlib.sha256
    ).hexdigest()


def config_for(conn: AsyncConnection) -> AuditConfig:
    """The audit configuration of the connection's engine (unkeyed when none was set)."""
    return _CONFIGS.get(conn.sync_engine, AuditConfig(key=None, head_file=None))


def configure_audit(
    engine: AsyncEngine,
    *,
    key: bytes,
    data_dir: Path | None,
    mirror_interval_s: float = MIRROR_INTERVAL_S,
) -> None:
    """Key this engine's audit chain and mirror its head to ``data_dir`` after commits."""
    sync_engine = engine.sync_engine
    head_file = data_dir / HEAD_FILE if data_dir is not None else None
    mirror = _mirror_for(head_file, mirror_interval_s) if head_file is not None else None
    _CONFIGS[sync_engine] = AuditConfig(key=key, head_file=head_file, mirror=mirror)


def _mirror_for(path: Path, interval_s: float) -> HeadMirror:
    """One mirror per file in a process, whichever engines append to it."""
    with _MIRRORS_LOCK:
        if not _MIRRORS:
            atexit.register(_flush_all)  # a process that never closed its store
        mirror = _MIRRORS.get(path)
        if mirror is None:
            mirror = _MIRRORS[path] = HeadMirror(path, interval_s)
        mirror.interval_s = interval_s
        return mirror


def _flush_all() -> None:
    for mirror in list(_MIRRORS.values()):
        mirror.flush()


async def flush_head_file(engine: AsyncEngine) -> None:
    """Write the newest head this process appended to the head file now (at shutdown)."""
    mirror = _CONFIGS.get(engine.sync_engine, AuditConfig(key=None, head_file=None)).mirror
    if mirror is not None:
        await asyncio.to_thread(mirror.flush)


class HeadMirror:
    """Writes one head file from a thread of its own: at once when idle, then at most once
    per interval with the newest head offered meanwhile, and whenever ``flush`` asks.

    ``offer`` runs on the event loop after each commit, so it takes no lock: a queue put and a
    flag. Two threads for one file can briefly overlap (one ending idle as another starts);
    ``write_head_file`` serialises them and never replaces a newer head with an older one.
    """

    def __init__(self, path: Path, interval_s: float = MIRROR_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._queue: queue.SimpleQueue[Head | threading.Event] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._running = False

    def offer(self, head: Head) -> None:
        """Mirror ``head`` soon (it has committed)."""
        self._queue.put(head)
        self._ensure_thread()

    def flush(self, timeout: float = 10.0) -> bool:
        """Write every head offered so far before returning (False if that took too long)."""
        if not self._running:
            # No thread: write here (at exit a new thread may no longer be started).
            self._write(self._drain([]))
            return True
        done = threading.Event()
        self._queue.put(done)
        self._ensure_thread()
        self._wake.set()  # cut the current interval short
        return done.wait(timeout)

    def _ensure_thread(self) -> None:
        if not self._running:
            self._running = True
            threading.Thread(target=self._run, name="piloto-audit-head", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=_IDLE_S)
            except queue.Empty:
                self._running = False
                if self._queue.empty():
                    return
                self._running = True  # offered as it was ending: carry on
                continue
            if self._write(self._drain([first])):
                # Heads offered meanwhile wait here and are written together, the newest.
                self._wake.wait(self.interval_s)
            self._wake.clear()

    def _drain(self, items: list[Head | threading.Event]) -> list[Head | threading.Event]:
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _write(self, items: list[Head | threading.Event]) -> bool:
        """Write the newest head of ``items`` and release the flushes among them; whether
        a head was written that no flush asked for (then the interval starts)."""
        heads = [i for i in items if isinstance(i, Head)]
        flushes = [i for i in items if isinstance(i, threading.Event)]
        if heads:
            try:
                write_head_file(self.path, max(heads, key=lambda h: h.count))
            except OSError as exc:
                log.warning("could not write %s: %s", self.path, exc)
        for done in flushes:
            done.set()
        return bool(heads) and not flushes


def remember_head(conn: AsyncConnection, head: Head) -> None:
    """Mirror the head an append wrote to the file once the transaction has committed.

    Not before: a commit that then failed would leave the file ahead of the trail, and
    ``verify`` would report a truncation that never happened.
    """
    mirror = config_for(conn).mirror
    if mirror is not None:
        after_commit(conn, lambda: mirror.offer(head))


def read_head_file(path: Path) -> Head | None:
    """The mirrored head, or None when there is no file."""
    try:
        data: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return Head(
        count=int(data["count"]),
        last_id=int(data["last_id"]),
        last_hash=str(data["last_hash"]),
        mac=str(data["mac"]),
    )


def write_head_file(path: Path, head: Head) -> None:
    """Atomically replace the mirror with ``head`` unless it already holds a newer one.

    Locked across processes too (a CLI beside the server, two instances sharing a data
    directory), so no writer puts an older head over a newer one between its read and rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _FILE_LOCK, open(path.with_name("." + path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read_head_file(path)
        except (ValueError, KeyError, OSError):
            current = None
        if current is not None and current.count >= head.count:
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-head.")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(asdict(head), fh)
                # On disk before the rename: after a power cut the file is the old head or
                # this one, never empty (verify would call it unreadable). Affordable now
                # that it is written once per interval, not once per append.
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
