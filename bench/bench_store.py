"""Insert and page 100,000 messages through Piloto's store, against plain sqlite3 in the same run.

.venv/bin/python bench/bench_store.py [--messages 100000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import Connection

from piloto.projects.repo import create_project
from piloto.store import migrate
from piloto.store.db import Database
from piloto.threads import repo as threads_repo


async def piloto_store(path: Path, n: int, batch: int, page: int) -> tuple[float, float]:
    url = f"sqlite:///{path}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    try:
        async with db.write() as conn:
            project = await create_project(conn, name="bench")
            chat = await threads_repo.create_chat(conn, project_id=project.id, title="bench")
        start = time.perf_counter()
        for lo in range(0, n, batch):

            def unit(conn: Connection, lo: int = lo) -> None:
                for i in range(lo, min(lo + batch, n)):
                    threads_repo.append_message_sync(
                        conn, chat_id=chat.id, role="user", content=f"message {i}"
                    )

            await db.write_unit(unit)
        insert_s = time.perf_counter() - start
        start = time.perf_counter()
        after, seen = 0, 0
        while True:
            rows = await db.read_unit(
                lambda c, after=after: threads_repo.list_messages_sync(
                    c, chat_id=chat.id, after=after, limit=page
                )
            )
            if not rows:
                break
            seen += len(rows)
            after = rows[-1].seq
        page_s = time.perf_counter() - start
        assert seen == n, seen
        return insert_s, page_s
    finally:
        await db.dispose()


def plain_sqlite(
    path: Path, n: int, batch: int, page: int, *, events: bool = False
) -> tuple[float, float]:
    """The floor; with ``events`` it also keeps Piloto's event log (a row per message, and
    the seqs numbered at commit), so the gap left is Piloto's own code, not the work."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE state (chat_id TEXT PRIMARY KEY, next_seq INTEGER)")
    conn.execute(
        "CREATE TABLE messages (id TEXT PRIMARY KEY, chat_id TEXT, seq INTEGER, role TEXT, content TEXT, "
        "created_at REAL, UNIQUE(chat_id, seq))"
    )
    conn.execute("INSERT INTO state VALUES ('c', 0)")
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT, type TEXT, "
        "data_json TEXT, created_at REAL, seq INTEGER)"
    )
    conn.execute("CREATE INDEX ix_ev ON events (chat_id, id)")
    conn.execute("CREATE UNIQUE INDEX ux_ev ON events (chat_id, seq)")
    last = 0
    start = time.perf_counter()
    for lo in range(0, n, batch):
        conn.execute("BEGIN IMMEDIATE")
        for i in range(lo, min(lo + batch, n)):
            seq = conn.execute(
                "UPDATE state SET next_seq = next_seq + 1 WHERE chat_id='c' RETURNING next_seq"
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO messages VALUES (?, 'c', ?, 'user', ?, ?)",
                (f"id{i}", seq, f"message {i}", time.time()),
            )
            if events:
                conn.execute(
                    "INSERT INTO events (chat_id, type, data_json, created_at) "
                    "VALUES ('c', 'message', ?, ?)",
                    (f'{{"seq": {seq}, "content": "message {i}"}}', time.time()),
                )
        if events:
            conn.execute(
                "UPDATE events SET seq = ? + r.rn FROM (SELECT id, ROW_NUMBER() OVER "
                "(ORDER BY id) AS rn FROM events WHERE chat_id = 'c' AND seq IS NULL) AS r "
                "WHERE events.id = r.id",
                (last,),
            )
            last += min(batch, n - lo)
        conn.execute("COMMIT")
    insert_s = time.perf_counter() - start
    start = time.perf_counter()
    after, seen = 0, 0
    while True:
        rows = conn.execute(
            "SELECT id, seq, role, content, created_at FROM messages WHERE chat_id='c' AND seq > ? ORDER BY seq LIMIT ?",
            (after, page),
        ).fetchall()
        if not rows:
            break
        seen += len(rows)
        after = rows[-1][1]
    page_s = time.perf_counter() - start
    conn.close()
    assert seen == n
    return insert_s, page_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="messages per transaction")
    parser.add_argument(
        "--page", type=int, default=200, help="messages per page (the API's maximum)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p_ins, p_page = asyncio.run(
            piloto_store(Path(tmp) / "piloto.db", args.messages, args.batch, args.page)
        )
        s_ins, s_page = plain_sqlite(Path(tmp) / "plain.db", args.messages, args.batch, args.page)
        e_ins, _ = plain_sqlite(
            Path(tmp) / "events.db", args.messages, args.batch, args.page, events=True
        )
    n = args.messages
    print(f"store benchmark: {n:,} messages, {args.batch} per transaction, pages of {args.page}")
    print(
        f"  insert  piloto {p_ins:7.2f} s ({n / p_ins:9,.0f}/s)   sqlite3 {s_ins:7.2f} s ({n / s_ins:9,.0f}/s)   ratio {p_ins / s_ins:5.1f}x"
    )
    print(
        f"  insert  piloto {p_ins:7.2f} s ({n / p_ins:9,.0f}/s)   sqlite3 + event log {e_ins:7.2f} s ({n / e_ins:9,.0f}/s)   ratio {p_ins / e_ins:5.1f}x"
    )
    print(
        f"  page    piloto {p_page:7.2f} s ({n / p_page:9,.0f}/s)   sqlite3 {s_page:7.2f} s ({n / s_page:9,.0f}/s)   ratio {p_page / s_page:5.1f}x"
    )


if __name__ == "__main__":
    main()
