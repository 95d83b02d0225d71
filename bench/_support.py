"""Helpers shared by the benchmarks that start ``piloto serve`` as a real process."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from piloto.settings import sync_url


@contextmanager
def database(kind: str, tmp: Path, pg_url: str | None) -> Iterator[str]:
    """A fresh, empty database URL: an SQLite file, or a private PostgreSQL schema."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'piloto.db'}"
        return
    assert pg_url is not None
    schema = "bench_" + secrets.token_hex(6)
    engine = create_engine(sync_url(pg_url))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        sep = "&" if "?" in pg_url else "?"
        yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def free_port() -> int:
    """A port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(env: dict[str, str], log: Path) -> AsyncIterator[str]:
    """``piloto serve`` as production runs it, in its own process (its own GIL and core)."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PILOTO_")}
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "piloto.cli", "serve", "--port", str(port),
            env={**clean, **env}, stdout=out, stderr=out,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            deadline = time.monotonic() + 60
            while True:
                if proc.returncode is not None or time.monotonic() > deadline:
                    tail = (await asyncio.to_thread(log.read_text))[-2000:]
                    raise SystemExit(f"piloto serve did not start; its log ({log}):\n{tail}")
                try:
                    if (await client.get("/api/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        yield base
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
