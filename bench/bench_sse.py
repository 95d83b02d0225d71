"""SSE delivery latency: from a message committed through the store to the event at each client.

    .venv/bin/python bench/bench_sse.py [--clients 50] [--messages 200] [--interval 0.02]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

The real app runs on uvicorn (loopback) in this process; the producer appends messages with
``threads.repo.append_message`` on the app's own ``Database`` (as the runner does for a step's
result), and notes the wall-clock time right after the commit. ``--clients`` httpx streaming
clients, in a separate process so they do not share the server's event loop or GIL, read
``GET /api/chats/{id}/events`` and note when each ``message`` event arrives. The latency is
arrival minus commit, over every (client, message) pair; p50, p99 and max are printed.
Messages are spaced by ``--interval`` so this measures delivery latency, not throughput.
With ``--database-url`` (PostgreSQL) the app runs on a private schema of that database, dropped
after the run; the default is SQLite in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import secrets
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, text

from piloto.app import create_app
from piloto.projects.repo import create_project
from piloto.settings import Settings
from piloto.store.eventlog import last_event_id
from piloto.threads import repo as threads_repo

TOKEN = "bench-sse-admin-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- clients (child process) ----------------------------------------------------------------


async def _client(url: str, after: int, expect: int, ready: Any, out: dict[int, float]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(60, read=120)) as client,
        client.stream("GET", url, params={"after": after}, headers=headers) as resp,
    ):
        resp.raise_for_status()
        ready.release()
        event, data = "", ""
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif not line and event == "message":
                now = time.time()
                msg = json.loads(data)
                if msg.get("role") == "system":
                    out[int(msg["seq"])] = now
                event, data = "", ""
                if len(out) >= expect:
                    return
            elif not line:
                event, data = "", ""


def _clients_main(url: str, after: int, n: int, expect: int, ready: Any, results: Any) -> None:
    async def main() -> list[dict[int, float]]:
        outs: list[dict[int, float]] = [{} for _ in range(n)]
        await asyncio.gather(*(_client(url, after, expect, ready, o) for o in outs))
        return outs

    results.put(asyncio.run(main()))


# -- server and producer (this process) ------------------------------------------------------


def _pg_schema(url: str) -> tuple[str, str]:
    """A fresh schema on ``url``: its name, and a URL whose search_path is that schema."""
    schema = "bench_sse_" + secrets.token_hex(4)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(url: str, schema: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


async def run(
    clients: int, messages: int, interval: float, database_url: str | None = None
) -> dict[str, float]:
    schema, url = _pg_schema(database_url) if database_url else (None, None)
    try:
        return await _run(clients, messages, interval, url)
    finally:
        if database_url and schema:
            _drop_schema(database_url, schema)


async def _run(
    clients: int, messages: int, interval: float, database_url: str | None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=database_url,
            admin_token=TOKEN,
            demo=False,
            runner=False,
            llm_base_url=None,  # type: ignore[arg-type]
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(settings)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for "started"
            await asyncio.sleep(0.02)
        try:
            db = app.state.db
            async with db.write() as conn:
                project = await create_project(conn, name="bench")
                chat = await threads_repo.create_chat(conn, project_id=project.id, title="sse")
            async with db.read() as conn:
                after = await last_event_id(conn, chat_id=chat.id)
            url = f"http://127.0.0.1:{port}/api/chats/{chat.id}/events"
            ctx = mp.get_context("spawn")
            ready, results = ctx.Semaphore(0), ctx.Queue()
            proc = ctx.Process(
                target=_clients_main,
                args=(url, after, clients, messages, ready, results),
                daemon=True,
            )
            proc.start()
            for _ in range(clients):
                while not await asyncio.to_thread(ready.acquire, True, 0.5):
                    if not proc.is_alive():
                        raise RuntimeError("the client process died")
            await asyncio.sleep(0.5)  # let every stream reach its wait
            committed: dict[int, float] = {}
            for i in range(messages):
                async with db.write() as conn:
                    msg = await threads_repo.append_message(
                        conn, chat_id=chat.id, role="system", content=f"tick {i}"
                    )
                committed[msg.seq] = time.time()
                await asyncio.sleep(interval)
            outs: list[dict[int, float]] = await asyncio.to_thread(results.get, True, 120)
            proc.join(10)
        finally:
            server.should_exit = True
            await serving
    lat = sorted((arrived - committed[seq]) * 1000 for out in outs for seq, arrived in out.items())
    missing = clients * messages - len(lat)
    return {
        "samples": len(lat),
        "missing": missing,
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "max_ms": lat[-1],
        "mean_ms": statistics.fmean(lat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between messages")
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite)")
    args = parser.parse_args()
    r = asyncio.run(run(args.clients, args.messages, args.interval, args.database_url))
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"SSE delivery, {args.clients} clients x {args.messages} messages ({backend}, loopback):")
    print(
        f"  p50 {r['p50_ms']:.2f} ms   p99 {r['p99_ms']:.2f} ms   max {r['max_ms']:.2f} ms   mean {r['mean_ms']:.2f} ms"
    )
    print(f"  samples {r['samples']}, missing {r['missing']}")


if __name__ == "__main__":
    main()
