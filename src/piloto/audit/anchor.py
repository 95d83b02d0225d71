"""The audit chain's key and head: HMAC keying, the head row's MAC, the head file mirror.

The key is derived from the instance's secret key (never stored in the database), so the
chain cannot be rewritten from the database alone. The head (count, last id, last hash) is
kept in ``audit_head`` in each append's transaction and, after commit, mirrored to
``audit-head.json`` in the data directory: deleting the newest records is then visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
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


@dataclass(frozen=True)
class AuditConfig:
    """How this engine's audit records are keyed and where the head is mirrored."""

    key: bytes | None
    head_file: Path | None


@dataclass(frozen=True)
class Head:
    """The newest record as the chain's head knows it."""

    count: int
    last_id: int
    last_hash: str
    mac: str


_CONFIGS: weakref.WeakKeyDictionary[Engine, AuditConfig] = weakref.WeakKeyDictionary()
_FILE_LOCK = threading.Lock()


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


def configure_audit(engine: AsyncEngine, *, key: bytes, data_dir: Path | None) -> None:
    """Key this engine's audit chain and mirror its head to ``data_dir`` after each commit."""
    sync_engine = engine.sync_engine
    head_file = data_dir / HEAD_FILE if data_dir is not None else None
    _CONFIGS[sync_engine] = AuditConfig(key=key, head_file=head_file)


def _mirror(path: Path, head: Head) -> None:
    """Write the head file off the event loop; the writer keeps the highest count."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        write_head_file(path, head)
        return
    future = loop.run_in_executor(None, write_head_file, path, head)
    future.add_done_callback(_log_failure)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("could not write %s: %s", HEAD_FILE, future.exception())


def remember_head(conn: AsyncConnection, head: Head) -> None:
    """Mirror the head an append wrote to the file once the transaction has committed.

    Not before: a commit that then failed would leave the file ahead of the trail, and
    ``verify`` would report a truncation that never happened.
    """
    config = config_for(conn)
    if config.head_file is None:
        return
    path = config.head_file
    after_commit(conn, lambda: _mirror(path, head))


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
    """Atomically replace the mirror with ``head`` unless it already holds a newer one."""
    with _FILE_LOCK:
        try:
            current = read_head_file(path)
        except (ValueError, KeyError, OSError):
            current = None
        if current is not None and current.count >= head.count:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-head.")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(asdict(head), fh)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
