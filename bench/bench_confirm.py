"""The confirm storm: N concurrent ``POST /api/runs/{id}/confirm`` with the right hash.

    .venv/bin/python bench/bench_confirm.py [--drafts 5] [--storm 200] [--postgres URL]

For each draft (``/cmd box uname -a`` in direct mode, in a chat of its own, against the real
toolbox), fires the storm at ``piloto serve`` on loopback and checks the compare-and-swap:
exactly one 200, every other answer 409. Prints latency percentiles over all confirms.
PostgreSQL is measured too when ``--postgres`` or ``PILOTO_TEST_DATABASE_URL`` is set (a fresh
schema, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _support import database, serve
from piloto.toolbox.config import ToolboxConfig
from piloto.toolbox.server import start_toolbox

ADMIN_TOKEN = "bench-admin-token-0123456789"
TOOLBOX_TOKEN = "bench-toolbox-token"


def summary(samples: list[float]) -> tuple[float, float, float, float]:
    """Median, 99th percentile (nearest rank), mean and max of samples, in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        statistics.median(ordered) * 1e3,
        p99 * 1e3,
        statistics.fmean(ordered) * 1e3,
        ordered[-1] * 1e3,
    )


@dataclass
class Result:
    db: str
    latencies: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    drafts: int = 0
    floor: list[float] = field(default_factory=list)


async def floor_storm(client: httpx.AsyncClient, run_id: str, n: int, out: Result) -> None:
    """The baseline: the same storm as authenticated reads of the run (HTTP, auth, one read)."""

    async def get() -> None:
        start = time.perf_counter()
        resp = await client.get(f"/api/runs/{run_id}")
        out.floor.append(time.perf_counter() - start)
        resp.raise_for_status()

    await asyncio.gather(*(get() for _ in range(n)))


async def propose(client: httpx.AsyncClient, project_id: str, i: int) -> tuple[str, str]:
    """A fresh chat with a draft of ``uname -a`` on the toolbox; its run id and plan hash."""
    resp = await client.post("/api/chats", json={"project_id": project_id, "title": f"d{i}"})
    resp.raise_for_status()
    chat_id = resp.json()["id"]
    resp = await client.post("/api/send", json={"chat_id": chat_id, "text": "/cmd box uname -a"})
    run = resp.json().get("run") if resp.status_code == 200 else None
    if not run or run["status"] != "draft":
        raise SystemExit(f"no draft was proposed: {resp.status_code} {resp.text[:300]}")
    return str(run["id"]), str(run["plan_hash"])


async def storm(client: httpx.AsyncClient, run_id: str, plan_hash: str, n: int, out: Result) -> None:  # fmt: skip
    """N confirms at once; exactly one may win."""
    statuses: list[int] = []

    async def confirm() -> None:
        start = time.perf_counter()
        resp = await client.post(f"/api/runs/{run_id}/confirm", json={"plan_hash": plan_hash})
        out.latencies.append(time.perf_counter() - start)
        statuses.append(resp.status_code)
        if resp.status_code not in (200, 409):
            raise SystemExit(f"confirm answered {resp.status_code}: {resp.text[:300]}")

    start = time.perf_counter()
    await asyncio.gather(*(confirm() for _ in range(n)))
    out.walls.append(time.perf_counter() - start)
    counts = Counter(statuses)
    assert counts[200] == 1 and counts[409] == n - 1, f"run {run_id}: {dict(counts)}"
    status = (await client.get(f"/api/runs/{run_id}")).json()["status"]
    assert status == "queued", f"run {run_id} is {status} after the storm"
    out.statuses.update(counts)
    out.drafts += 1


async def bench_db(
    kind: str, url: str, toolbox_url: str, *, drafts: int, n: int, tmp: Path
) -> Result:
    env = {
        "PILOTO_DATA_DIR": str(tmp / "data"),
        "PILOTO_DATABASE_URL": url,
        "PILOTO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PILOTO_DEMO": "false",
        "PILOTO_RUNNER": "false",  # the run stays queued: the storm measures the CAS alone
    }
    # Below uvicorn's 5 s keep-alive: a reused connection never races the server closing it.
    limits = httpx.Limits(
        max_connections=n + 16, max_keepalive_connections=n + 16, keepalive_expiry=2
    )
    out = Result(kind)
    async with (
        serve(env, tmp / "piloto.log") as base,
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            limits=limits,
            timeout=120,
        ) as client,
    ):
        resp = await client.post("/api/projects", json={"name": f"bench {kind}"})
        resp.raise_for_status()
        project_id = resp.json()["id"]
        resp = await client.post(
            "/api/services",
            json={
                "name": "box",
                "kind": "openapi",
                "project_id": project_id,
                "base_url": toolbox_url,
                "bearer_token": TOOLBOX_TOKEN,
            },
        )
        if resp.status_code != 201:
            raise SystemExit(f"registering the toolbox failed: {resp.status_code} {resp.text}")
        try:
            for i in range(drafts):
                run_id, plan_hash = await propose(client, project_id, i)
                # Open the storm's connections just before it (uvicorn drops idle ones after
                # 5 s), so the storm measures no TCP handshakes.
                await asyncio.gather(*(client.get("/api/health") for _ in range(n)))
                await storm(client, run_id, plan_hash, n, out)
                await floor_storm(client, run_id, n, out)
                print(f"  {kind}: storm {i + 1}/{drafts} done", file=sys.stderr, flush=True)
        except Exception:
            tail = (await asyncio.to_thread((tmp / "piloto.log").read_text))[-3000:]
            print(f"{kind}: the server's log ends with:\n{tail}", file=sys.stderr)
            raise
    return out


def print_table(results: list[Result], n: int) -> None:
    print(f"confirm storm: {n} concurrent POST /api/runs/{{id}}/confirm per draft, right hash")
    head = f"{'db':<11}{'drafts':>6}{'confirms':>9}"
    head += f"{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'max ms':>9}{'storm s':>9}"
    head += f"{'200s':>6}{'409s':>6}  one 200 per draft   floor: GET storm p50/p99 ms, p99 ratio"
    print(head)
    for r in results:
        p50, p99, mean, top = summary(r.latencies)
        ok = r.statuses[200] == r.drafts
        f_p50, f_p99, _, _ = summary(r.floor)
        print(
            f"{r.db:<11}{r.drafts:>6}{len(r.latencies):>9}"
            f"{p50:>9.1f}{p99:>9.1f}{mean:>9.1f}{top:>9.1f}{statistics.median(r.walls):>9.2f}"
            f"{r.statuses[200]:>6}{r.statuses[409]:>6}  {'yes' if ok else 'NO ':<17}"
            f"   {f_p50:7.1f} /{f_p99:7.1f}   {p99 / f_p99:5.1f}x"
        )


async def run(args: argparse.Namespace) -> list[Result]:
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        box = await start_toolbox(ToolboxConfig(port=0, token=TOOLBOX_TOKEN, workdir=tmp / "work"))
        try:
            for kind in kinds:
                where = tmp / kind
                where.mkdir()
                with database(kind, where, args.postgres) as url:
                    results.append(
                        await bench_db(
                            kind, url, box.base_url, drafts=args.drafts, n=args.storm, tmp=where
                        )
                    )
        finally:
            await box.stop()
    return results


def main() -> None:
    """Parse arguments, storm, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--drafts", type=int, default=5, help="storms per database")
    parser.add_argument("--storm", type=int, default=200, help="concurrent confirms per draft")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PILOTO_TEST_DATABASE_URL"),
        help="also measure on this PostgreSQL (default: $PILOTO_TEST_DATABASE_URL)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    results = asyncio.run(run(args))
    print_table(results, args.storm)
    print(f"(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
