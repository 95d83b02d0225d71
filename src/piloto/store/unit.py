"""Units of work: a whole write transaction run as sync code in one hop.

On SQLite each ``await`` of aiosqlite is a hop to its thread and back (~100 µs); a unit of
work instead runs on one dedicated writer thread with its own connection, so a transaction of
many statements costs one hop (datasette's write thread does the same). On PostgreSQL a unit
runs on a small pool of threads with sync psycopg connections, in pipeline mode: statements
whose result nobody reads go out without waiting for the server (measured on 14 statements:
5.2 ms through the async engine's ``run_sync``, 1.9 ms on a thread, 1.2 ms pipelined).

Hot statements are plain SQL strings written once with ``:name`` parameters: they go straight
to the driver (sqlite3's statement cache, psycopg's prepared statements), bypassing
SQLAlchemy's per-statement work; on any other connection through ``text()``.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from sqlalchemy import TextClause, create_engine, text
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")
Params = dict[str, Any]
_RAW = "piloto_raw_driver"  # conn.info: the sqlite3 / sync psycopg connection under this one
_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")  # :name, not a ::cast


@lru_cache(maxsize=256)
def _text(sql: str) -> TextClause:
    return text(sql)


@lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """``:name`` parameters in psycopg's ``%(name)s`` style (a literal ``%`` doubled)."""
    return _NAME.sub(r"%(\1)s", sql.replace("%", "%%"))


def _driver(conn: Connection) -> sqlite3.Connection | psycopg.Connection[Any] | None:
    """The driver's connection when it is sqlite3 or sync psycopg (cached: SQLAlchemy's
    lookup is slow); None under an async adapter (``run_sync``), which needs SQLAlchemy."""
    raw = conn.info.get(_RAW, False)
    if raw is False:
        raw = conn.connection.driver_connection
        if not isinstance(raw, sqlite3.Connection | psycopg.Connection):
            raw = None
        conn.info[_RAW] = raw
    return raw  # type: ignore[no-any-return]


def run(conn: Connection, sql: str, params: Params) -> None:
    """Execute one statement in the unit's transaction (pipelined on PostgreSQL: its error,
    if any, is raised by the next read or at the unit's end, and rolls the unit back)."""
    raw = _driver(conn)
    if isinstance(raw, sqlite3.Connection):
        raw.execute(sql, params)
    elif raw is not None:
        raw.execute(_pg(sql), params)
    else:
        conn.execute(_text(sql), params)


def one(conn: Connection, sql: str, params: Params) -> tuple[Any, ...] | None:
    """Execute one statement and return its first row (or None)."""
    raw = _driver(conn)
    if isinstance(raw, sqlite3.Connection):
        row = raw.execute(sql, params).fetchone()
        return tuple(row) if row is not None else None
    if raw is not None:
        found = raw.execute(_pg(sql), params).fetchone()
        return tuple(found) if found is not None else None
    first = conn.execute(_text(sql), params).first()
    return tuple(first) if first is not None else None


def fetch_all(conn: Connection, sql: str, params: Params) -> list[tuple[Any, ...]]:
    """Execute one query and return every row."""
    raw = _driver(conn)
    if isinstance(raw, sqlite3.Connection):
        return raw.execute(sql, params).fetchall()
    if raw is not None:
        return [tuple(r) for r in raw.execute(_pg(sql), params).fetchall()]
    return [tuple(r) for r in conn.execute(_text(sql), params)]


def pipelined(conn: Connection) -> Any:
    """A context in which a unit's statements on sync psycopg are pipelined (else nothing)."""
    raw = _driver(conn)
    if isinstance(raw, psycopg.Connection):
        return raw.pipeline()
    return nullcontext()


class SqliteWriter:
    """One connection on one thread; every unit of work runs there, one after another."""

    def __init__(self, url: str, configure: Callable[[Engine], None]) -> None:
        # One connection is ever opened, on the writer thread, and kept for the process.
        self._engine = create_engine(url, pool_size=1, max_overflow=0)
        configure(self._engine)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piloto-writer")
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect().execution_options(piloto_begin="IMMEDIATE")
        return self._conn

    async def call(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` with the writer's connection on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: fn(self._connection()))

    async def close(self) -> None:
        """Close the connection on its own thread, then stop the thread."""

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._engine.dispose()

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, _close)
        self._thread.shutdown(wait=False)


class PgUnits:
    """A few threads, each unit on a pooled sync psycopg connection: one hop per unit."""

    def __init__(self, url: str, size: int = 2) -> None:
        # Two: a unit holds its connection ~1-3 ms, so two serve hundreds of steps a second,
        # and every instance's connections count against the server's max_connections.
        # Pre-ping, as the async engine does: a server restart costs a reconnect, not a step.
        self._engine = create_engine(url, pool_size=size, max_overflow=0, pool_pre_ping=True)
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="piloto-pg-unit")

    def _unit(self, fn: Callable[[Connection], T]) -> T:
        with self._engine.connect() as conn:
            return fn(conn)

    async def call(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` with a pooled connection on one of the unit threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._unit, fn)

    async def close(self) -> None:
        """Stop the threads and close the pooled connections."""
        await asyncio.to_thread(self._threads.shutdown, True)
        await asyncio.to_thread(self._engine.dispose)


class Readers:
    """A few reader threads over a pool of sync connections: a whole read snapshot per hop
    (SQLite in WAL mode; PostgreSQL, where it spares the async engine's per-statement hops)."""

    def __init__(
        self,
        url: str,
        configure: Callable[[Engine], None] | None = None,
        size: int = 4,
        **engine: Any,
    ) -> None:
        self._engine = create_engine(url, pool_size=size, max_overflow=0, **engine)
        if configure is not None:
            configure(self._engine)
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="piloto-reader")

    def _snapshot(self, fn: Callable[[Connection], T]) -> T:
        with self._engine.connect() as conn, conn.begin() as tx:
            try:
                return fn(conn)
            finally:
                tx.rollback()

    async def call(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a read transaction on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._snapshot, fn)

    async def close(self) -> None:
        """Stop the threads and close the pooled connections."""
        await asyncio.to_thread(self._threads.shutdown, True)
        await asyncio.to_thread(self._engine.dispose)
