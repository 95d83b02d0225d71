"""``POST /api/send`` latency through the real app on uvicorn, against a bare OpenAI client.

    .venv/bin/python bench/bench_send.py [--requests 200] [--levels 1,32] [--postgres URL]

Both paths talk to one scripted OpenAI-compatible server on loopback that answers "ok" at
once. The floor replays, with a bare ``openai.AsyncOpenAI``, the very request bodies Piloto
sent to the model in the same run, at the same concurrency. Each concurrent worker owns one
chat. PostgreSQL is measured too when ``--postgres`` or ``PILOTO_TEST_DATABASE_URL`` is set
(a fresh schema, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import openai

from _support import database, serve

ADMIN_TOKEN = "bench-admin-token-0123456789"
WARMUP = 5


def summary(samples: list[float]) -> tuple[float, float, float]:
    """Median, 99th percentile (nearest rank) and mean of samples, in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p99 * 1e3, statistics.fmean(ordered) * 1e3


async def workers(
    concurrency: int, total: int, job: Callable[[int, int], Awaitable[None]]
) -> list[float]:
    """Run ``total`` jobs on ``concurrency`` sequential workers; the latency of each, in s."""
    samples: list[float] = []

    async def worker(w: int) -> None:
        for i in range(w, total, concurrency):
            start = time.perf_counter()
            await job(w, i)
            samples.append(time.perf_counter() - start)

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return samples


@dataclass
class Row:
    db: str
    stream: bool
    chats: int
    piloto: list[float]
    floor: list[float]
    messages: float  # mean messages per model request: the history Piloto sent


async def new_chats(client: httpx.AsyncClient, project_id: str, n: int) -> list[str]:
    chats = []
    for i in range(n):
        resp = await client.post("/api/chats", json={"project_id": project_id, "title": f"c{i}"})
        resp.raise_for_status()
        chats.append(str(resp.json()["id"]))
    return chats


# The scripted model in its own process, like a real one; each stdin line asks it to dump the
# request bodies it got since the last dump to that file (the floor replays them).
RECORDER = """
import json, sys
from piloto.llm.scripted import Reply, ScriptedLLM
llm = ScriptedLLM()
llm.default = Reply(text="ok")
llm.start()
print(llm.base_url, flush=True)
for line in sys.stdin:
    bodies = list(llm.requests)
    llm.reset()  # forgets the default reply too
    llm.default = Reply(text="ok")
    with open(line.strip(), "w") as f:
        json.dump(bodies, f)
    print("dumped", flush=True)
llm.stop()
"""


@dataclass
class Model:
    base_url: str
    proc: asyncio.subprocess.Process
    dump: Path

    async def take(self) -> list[dict[str, Any]]:
        """The request bodies the model received since the last call."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{self.dump}\n".encode())
        await self.proc.stdin.drain()
        await asyncio.wait_for(self.proc.stdout.readline(), 30)
        return list(json.loads(await asyncio.to_thread(self.dump.read_bytes)))


@asynccontextmanager
async def scripted_model(tmp: Path) -> AsyncIterator[Model]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RECORDER, stdin=PIPE, stdout=PIPE
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line.startswith(b"http"):
            raise SystemExit("the scripted model did not start")
        yield Model(line.decode().strip(), proc, tmp / "bodies.json")
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def bench_app(
    db: str, url: str, model: Model, *, stream: bool, levels: list[int], n: int, tmp: Path
) -> list[Row]:
    env = {
        "PILOTO_DATA_DIR": str(tmp / "data"),
        "PILOTO_DATABASE_URL": url,
        "PILOTO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PILOTO_DEMO": "false",
        "PILOTO_RUNNER": "false",
        "PILOTO_LLM_BASE_URL": model.base_url,
        "PILOTO_LLM_STREAM": "true" if stream else "false",
    }
    rows = []
    # Below uvicorn's 5 s keep-alive: a reused connection never races the server closing it.
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=2)
    async with (
        serve(env, tmp / "piloto.log") as base,
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            limits=limits,
            timeout=60,
        ) as client,
    ):
        bare = openai.AsyncOpenAI(
            base_url=model.base_url,
            api_key="not-needed",
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(limits=limits),
        )
        resp = await client.post("/api/projects", json={"name": f"bench {db}"})
        resp.raise_for_status()
        project_id = str(resp.json()["id"])

        async def send(chat_id: str) -> None:
            resp = await client.post("/api/send", json={"chat_id": chat_id, "text": "hello"})
            if resp.status_code != 200 or resp.json()["reply"]["content"] != "ok":
                raise SystemExit(f"/api/send answered {resp.status_code}: {resp.text[-600:]}")

        async def replay(body: dict[str, Any]) -> None:
            answer = await bare.chat.completions.create(**body)
            if isinstance(answer, openai.AsyncStream):
                async for _ in answer:
                    pass

        try:
            (warm,) = await new_chats(client, project_id, 1)
            await model.take()
            for _ in range(WARMUP):
                await send(warm)
            for body in await model.take():
                await replay(body)
            for level in levels:
                chats = await new_chats(client, project_id, level)
                await model.take()  # forget the floor's own replays
                piloto = await workers(level, n, lambda w, _i, chats=chats: send(chats[w]))
                bodies = await model.take()
                assert len(bodies) == n, (len(bodies), n)
                floor = await workers(level, n, lambda _w, i, bodies=bodies: replay(bodies[i]))
                size = statistics.fmean(len(b["messages"]) for b in bodies)
                rows.append(Row(db, stream, level, piloto, floor, size))
        finally:
            await bare.close()
    return rows


def print_table(rows: list[Row], n: int) -> None:
    print(f"POST /api/send, {n} requests per level; scripted model answers 'ok' at once")
    print("floor = bare openai.AsyncOpenAI replaying the same bodies at the same concurrency;")
    print("msgs = mean messages per model request (history grows with the turns of a chat)")
    head = f"{'db':<11}{'stream':<7}{'chats':>5}{'msgs':>5}"
    head += f"{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'req/s':>7}"
    head += f"{'floor p50':>10}{'p99':>7}{'mean':>7}{'x p50':>7}{'x mean':>7}"
    print(head)
    for r in rows:
        p50, p99, mean = summary(r.piloto)
        f50, f99, fmean = summary(r.floor)
        rate = r.chats / (mean / 1e3)
        print(
            f"{r.db:<11}{'on' if r.stream else 'off':<7}{r.chats:>5}{r.messages:>5.0f}"
            f"{p50:>9.2f}{p99:>9.2f}{mean:>9.2f}{rate:>7.0f}"
            f"{f50:>10.2f}{f99:>7.2f}{fmean:>7.2f}{p50 / f50:>7.1f}{mean / fmean:>7.1f}"
        )


async def run(args: argparse.Namespace) -> list[Row]:
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        async with scripted_model(tmp) as model:
            for kind in kinds:
                for stream in args.streams:
                    where = tmp / f"{kind}-{stream}"
                    where.mkdir()
                    with database(kind, where, args.postgres) as url:
                        rows += await bench_app(
                            kind, url, model, stream=stream, levels=args.levels, n=args.requests,
                            tmp=where,
                        )  # fmt: skip
    return rows


def main() -> None:
    """Parse arguments, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200, help="requests per level")
    parser.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 32],
        help="concurrent chats, comma-separated",
    )
    parser.add_argument(
        "--stream",
        choices=["on", "off", "both"],
        default="both",
        help="llm_stream setting(s) to measure",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PILOTO_TEST_DATABASE_URL"),
        help="also measure on this PostgreSQL (default: $PILOTO_TEST_DATABASE_URL)",
    )
    args = parser.parse_args()
    args.streams = {"on": [True], "off": [False], "both": [True, False]}[args.stream]
    started = time.perf_counter()
    rows = asyncio.run(run(args))
    print_table(rows, args.requests)
    print(f"(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
