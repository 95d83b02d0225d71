"""The head file is coalesced: written at most once per interval, the newest head winning,
always on shutdown, and a crash just after commits leaves a file that verify accepts.

Tried as a busy server (many appends, two writers) and a crash (kill -9) would.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Connection as SyncConnection

from piloto.app import create_app
from piloto.audit.anchor import (
    HEAD_FILE,
    Head,
    HeadMirror,
    configure_audit,
    read_head_file,
    write_head_file,
)
from piloto.audit.log import append_audit, append_audit_sync, audit_config, verify_chain
from piloto.settings import Settings
from piloto.store import migrate
from piloto.store.db import Database
from tests.support.waits import eventually

HOUR = 3600.0  # an interval no test outlives: only a flush (or the first write) reaches the file


def _head(count: int) -> Head:
    return Head(count, count, f"{count:064x}", "0" * 64)


def _file_count(path: Path) -> int | None:
    head = read_head_file(path)
    return head.count if head is not None else None


async def _mirrored(path: Path) -> int | None:
    """The head file's count, read off the loop (``read_head_file`` is Piloto's own I/O)."""
    return await asyncio.to_thread(_file_count, path)


async def _until_mirrored(path: Path, count: int, what: str) -> None:
    """Wait until the head file shows ``count``."""

    async def shown() -> list[int]:
        return [count] if await _mirrored(path) == count else []

    seen: list[int] = await eventually(shown, what)
    assert seen == [count]


async def _rows(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar_one())


async def _append_both_ways(db: Database, n: int) -> None:
    """Appends as the runner makes them (units of work) and as routes do (``write()``)."""
    config = audit_config(db.engine)

    def step(conn: SyncConnection) -> None:
        append_audit_sync(conn, config, actor="runner", action="step", request_summary="u")

    for i in range(n):
        if i % 2:
            async with db.write() as conn:
                await append_audit(conn, actor="alice", action="test", request_summary=f"w{i}")
        else:
            await db.write_unit(step)


def test_a_flush_writes_the_newest_of_many_heads_offered_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / HEAD_FILE
    mirror = HeadMirror(path, interval_s=HOUR)
    counts = list(range(1, 201))
    random.Random(14).shuffle(counts)
    for count in counts:
        mirror.offer(_head(count))
    assert mirror.flush()
    assert _file_count(path) == 200
    mirror.offer(_head(150))  # an older head offered late never replaces the newer one
    assert mirror.flush()
    assert _file_count(path) == 200


def test_two_writers_never_put_an_older_head_over_a_newer_one(tmp_path: Path) -> None:
    """Threads racing with heads in opposite orders, and a second process's mirror."""
    path = tmp_path / HEAD_FILE
    start = threading.Barrier(3)

    def write(counts: list[int]) -> None:
        start.wait()
        for count in counts:
            write_head_file(path, _head(count))

    threads = [
        threading.Thread(target=write, args=(list(range(1, 301)),)),
        threading.Thread(target=write, args=(list(range(300, 0, -1)),)),
    ]
    for thread in threads:
        thread.start()
    other = subprocess.Popen(
        [sys.executable, "-c", _OTHER_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    start.wait()
    for thread in threads:
        thread.join()
    assert other.communicate(timeout=60)[0].strip() == "done" and other.returncode == 0
    assert _file_count(path) == 300
    write_head_file(path, _head(299))
    assert _file_count(path) == 300
    lock = f".{HEAD_FILE}.lock"  # kept: a lock file removed under a waiter would split writers
    assert not [
        p for p in tmp_path.iterdir() if p.name.startswith(".audit-head.") and p.name != lock
    ]


_OTHER_WRITER = """
import sys
from pathlib import Path
from piloto.audit.anchor import Head, write_head_file
for count in range(300, 0, -1):
    write_head_file(Path(sys.argv[1]), Head(count, count, f"{count:064x}", "0" * 64))
print("done")
"""


async def test_many_appends_leave_the_file_at_the_last_head(
    app_client: httpx.AsyncClient, settings: Settings
) -> None:
    db: Database = app_client.app.state.db  # type: ignore[attr-defined]
    await _append_both_ways(db, 60)
    total = await _rows(db)
    path = settings.data_dir / HEAD_FILE
    await _until_mirrored(path, total, "the head file at the last head")
    resp = await app_client.get("/api/audit/verify")
    assert resp.json()["ok"] is True and resp.json()["checked"] == total, resp.text


async def test_heads_wait_for_the_interval_and_shutdown_writes_the_newest(
    settings: Settings,
) -> None:
    """With an hour's interval the file keeps the first head while appends go on; closing the
    app writes the last one."""
    app = create_app(settings)
    path = settings.data_dir / HEAD_FILE
    async with app.router.lifespan_context(app):
        db: Database = app.state.db
        key = audit_config(db.engine).key
        assert key is not None
        started = await _rows(db)  # what start-up appended, mirrored at the old interval
        if started:
            await _until_mirrored(path, started, "start-up's head written")
        configure_audit(db.engine, key=key, data_dir=settings.data_dir, mirror_interval_s=HOUR)
        await _append_both_ways(db, 1)
        first = await _rows(db)
        await _until_mirrored(path, first, "the first head written at once")
        await _append_both_ways(db, 30)
        total = await _rows(db)
        assert await _mirrored(path) == first  # coalesced: nothing written inside the interval
    assert await _mirrored(path) == total
    db = await asyncio.to_thread(Database, settings.resolved_database_url)
    try:
        configure_audit(db.engine, key=key, data_dir=settings.data_dir)
        async with db.read() as conn:
            result = await verify_chain(conn)
        assert result.ok and result.checked == total, result.reason
    finally:
        await db.dispose()


_CRASHER = """
import asyncio, os, signal, sys
from pathlib import Path
from piloto.audit.anchor import configure_audit
from piloto.audit.log import append_audit, append_audit_sync, audit_config
from piloto.store.db import Database

async def main() -> None:
    db = Database(sys.argv[1])
    configure_audit(db.engine, key=bytes.fromhex(sys.argv[2]), data_dir=Path(sys.argv[3]),
                    mirror_interval_s=3600)
    config = audit_config(db.engine)
    for i in range(int(sys.argv[4])):
        if i % 2:
            async with db.write() as conn:
                await append_audit(conn, actor="alice", action="test", request_summary=str(i))
        else:
            await db.write_unit(lambda c: append_audit_sync(c, config, actor="r", action="step"))
    print("committed", flush=True)
    if sys.argv[5] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)  # no shutdown: the mirror is never flushed
    await db.dispose()  # and exit without flushing: the interpreter's exit does

asyncio.run(main())
"""


async def test_a_crash_right_after_commits_leaves_a_file_verify_accepts(
    database_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url)
    key, data_dir, n = os.urandom(32), tmp_path / "data", 40
    crashed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _CRASHER, database_url, key.hex(), str(data_dir), str(n), "kill"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert crashed.stdout.strip() == "committed"
    path = data_dir / HEAD_FILE
    mirrored = await _mirrored(path)
    assert mirrored is None or 1 <= mirrored <= n  # it may lag the table, never lead it

    db = await asyncio.to_thread(Database, database_url)
    try:
        configure_audit(db.engine, key=key, data_dir=data_dir)
        async with db.read() as conn:
            result = await verify_chain(conn)
        assert result.ok and result.checked == n, result.reason
        # The tail the file cannot anchor is still anchored by the head row, as before.
        async with db.write() as conn:
            await conn.execute(
                text(
                    "DELETE FROM audit_log"
                    " WHERE id IN (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1)"
                )
            )
        async with db.read() as conn:
            result = await verify_chain(conn)
        assert not result.ok
        assert f"the trail ends at {n - 1} but its head says {n}" in str(result.reason)
    finally:
        await db.dispose()


async def test_a_process_that_exits_without_closing_writes_the_last_head(
    tmp_path: Path,
) -> None:
    """A command that appends and exits (a CLI) never ran the app's shutdown: exit flushes."""
    url = f"sqlite:///{tmp_path / 'piloto.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    data_dir, n = tmp_path / "data", 12
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _CRASHER, url, os.urandom(32).hex(), str(data_dir), str(n), "exit"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert await _mirrored(data_dir / HEAD_FILE) == n
