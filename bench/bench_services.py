"""Services benchmarks: parsing GitHub's OpenAPI document, and invoke_http's overhead.

Run: ``python bench/bench_services.py``. Prints figures and ratios against floors measured in
the same run: ``json.load`` of the same file, and the same 1,000 GETs with a bare httpx client.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from piloto.services.invoke import HttpTarget, invoke_http
from piloto.services.models import OperationSpec, ParamSpec
from piloto.services.netguard import NetPolicy, guarded_client
from piloto.services.openapi import parse_openapi

# Installed from the npm registry by ./run bench (@octokit/openapi, next to Prism).
GITHUB = (
    Path(__file__).resolve().parents[1]
    / ".tools/node_modules/@octokit/openapi/generated/api.github.com.json"
)
CALLS = 1000


def timed(fn: Any, repeat: int = 5) -> float:
    """Median wall time of fn() in seconds."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mib(fn: Any) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def bench_parse() -> None:
    raw = GITHUB.read_bytes()
    floor_s = timed(lambda: json.loads(raw))
    parse_s = timed(lambda: parse_openapi(raw))
    floor_mem = peak_mib(lambda: json.loads(raw))
    parse_mem = peak_mib(lambda: parse_openapi(raw))
    ops = len(parse_openapi(raw).operations)
    print(f"parse github-api.json ({len(raw) / 2**20:.1f} MiB, {ops} operations)")
    print(f"  json.loads     {floor_s * 1000:8.1f} ms   peak {floor_mem:7.1f} MiB")
    print(f"  parse_openapi  {parse_s * 1000:8.1f} ms   peak {parse_mem:7.1f} MiB")
    print(
        f"  ratio          {parse_s / floor_s:8.2f} x time   {parse_mem / floor_mem:5.2f} x memory"
    )


def start_server() -> tuple[uvicorn.Server, threading.Thread, str]:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str, q: int = 0) -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                       ws="none", http="h11", loop="asyncio")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


async def bench_invoke(base: str) -> None:
    op = OperationSpec(
        operation_id="getItem", method="GET", path="/items/{item_id}", risk="read",
        idempotent=True,
        parameters=[
            ParamSpec(name="item_id", location="path", required=True, schema={"type": "string"}),
            ParamSpec(name="q", location="query", required=False, schema={"type": "integer"}),
        ],
    )  # fmt: skip
    target = HttpTarget(base_url=base, headers={"Authorization": "Bearer bench"})

    async def bare() -> float:
        async with httpx.AsyncClient(timeout=30) as client:
            await client.get(f"{base}/items/warm")
            start = time.perf_counter()
            for i in range(CALLS):
                response = await client.get(
                    f"{base}/items/{i}", params={"q": i}, headers={"Authorization": "Bearer bench"}
                )
                response.json()
            return time.perf_counter() - start

    async def guarded() -> float:
        async with guarded_client(NetPolicy(), timeout=30) as client:
            await invoke_http(target, op, {"item_id": "warm"}, client=client)
            start = time.perf_counter()
            for i in range(CALLS):
                result = await invoke_http(target, op, {"item_id": str(i), "q": i}, client=client)
                assert result.ok
            return time.perf_counter() - start

    bare_s = min([await bare() for _ in range(2)])
    guarded_s = min([await guarded() for _ in range(2)])
    print(f"{CALLS} GETs on a loopback uvicorn server (best of 2)")
    print(f"  bare httpx.AsyncClient        {bare_s:6.2f} s  {bare_s / CALLS * 1e6:7.0f} µs/call")
    print(
        f"  invoke_http + guarded_client  {guarded_s:6.2f} s  {guarded_s / CALLS * 1e6:7.0f} µs/call"
    )
    print(f"  ratio                         {guarded_s / bare_s:6.2f} x")


def main() -> None:
    bench_parse()
    server, thread, base = start_server()
    try:
        asyncio.run(bench_invoke(base))
    finally:
        server.should_exit = True
        thread.join(10)


if __name__ == "__main__":
    main()
