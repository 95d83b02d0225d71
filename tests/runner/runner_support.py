"""Helpers for the runner tests: a counting tool service, the app with its runner, API steps.

Run as a script to serve the counting service in its own process (the crash test):
``python runner_support.py PORT``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

# Also run as a script by the crash test (no `tests` package then): its own constants.
ADMIN_TOKEN = "test-admin-token-0123456789"
WAIT_S = float(os.environ.get("PILOTO_TEST_WAIT_S", "60"))
FINAL = frozenset({"done", "error", "cancelled", "interrupted"})


class CountingState:
    """Every request the service received, counted per Idempotency-Key and per path."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_key: Counter[str] = Counter()
        self.by_path: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []

    def record(self, method: str, path: str, key: str | None) -> int:
        with self.lock:
            self.requests.append({"method": method, "path": path, "key": key})
            if key:
                self.by_key[key] += 1
            self.by_path[f"{method} {path}"] += 1
            return self.by_path[f"{method} {path}"]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "by_key": dict(self.by_key),
                "by_path": dict(self.by_path),
                "requests": list(self.requests),
            }


class Order(BaseModel):
    item: str
    qty: int = 1


def make_counting_app() -> tuple[FastAPI, CountingState]:
    """GET /items/{id} (idempotent), GET /flaky/{key}, POST /orders (?delay=), GET /stats."""
    app = FastAPI(title="counting", version="1", openapi_url="/openapi.json")
    state = CountingState()
    app.state.counting = state

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        if request.url.path not in ("/stats", "/openapi.json"):
            request.state.hits = state.record(
                request.method, request.url.path, request.headers.get("idempotency-key")
            )
        return await call_next(request)

    @app.get("/items/{item_id}", operation_id="getItem")
    async def get_item(item_id: str, delay: float = 0) -> Any:
        if delay:
            await asyncio.sleep(delay)
        if item_id == "missing":
            return JSONResponse({"detail": "no such item"}, status_code=404)
        return {"id": item_id, "name": f"item {item_id}", "tags": ["red", "blue"]}

    @app.get("/flaky/{key}", operation_id="flakyItem")
    async def flaky(key: str, request: Request, fails: int = 2) -> Any:
        if request.state.hits <= fails:
            return JSONResponse(
                {"detail": f"try again (hit {request.state.hits})"}, status_code=503
            )
        return {"key": key, "hits": request.state.hits}

    @app.post("/orders", operation_id="createOrder", status_code=201)
    async def create_order(
        order: Order, request: Request, delay: float = 0, fail: bool = False
    ) -> Any:
        if delay:
            await asyncio.sleep(delay)
        if fail:
            return JSONResponse({"detail": "busy"}, status_code=503)
        return {"id": f"ord-{request.state.hits}", "item": order.item, "qty": order.qty}

    @app.get("/stats", include_in_schema=False)
    async def stats() -> dict[str, Any]:
        return state.snapshot()

    return app, state


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread."""
    # Imported here: subprocesses import this module as a script, without the tests package.
    from tests.support.serve import serve_asgi

    yield from serve_asgi(app)


def open_app(settings: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The real app (lifespan, runner) in process, authenticated as the admin."""
    from tests.support.instances import app_client

    return app_client(settings)


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.status_code}: {resp.text}"
    return resp.json()


async def new_chat(
    client: httpx.AsyncClient, *, settings: dict[str, Any] | None = None
) -> tuple[str, str]:
    """A fresh project (with optional settings) and a chat in it."""
    body: dict[str, Any] = {"name": f"p-{os.urandom(4).hex()}"}
    if settings:
        body["settings"] = settings
    project = ok(await client.post("/api/projects", json=body), 201)
    chat = ok(
        await client.post("/api/chats", json={"project_id": project["id"], "title": "runner"}), 201
    )
    return project["id"], chat["id"]


async def register(
    client: httpx.AsyncClient, name: str, base_url: str, **extra: Any
) -> dict[str, Any]:
    return dict(
        ok(
            await client.post(
                "/api/services",
                json={"name": name, "kind": "openapi", "base_url": base_url, **extra},
            ),
            201,
        )
    )


async def propose(client: httpx.AsyncClient, chat_id: str, text: str) -> dict[str, Any]:
    """Send a direct-mode command; returns the proposed run."""
    data = ok(await client.post("/api/send", json={"chat_id": chat_id, "text": text}))
    assert data["run"] is not None, data
    return dict(data["run"])


async def propose_steps(
    client: httpx.AsyncClient, chat_id: str, steps: list[dict[str, Any]], summary: str = "test plan"
) -> dict[str, Any]:
    """Propose a multi-step plan: a one-step /call, then edited into ``steps`` (a new draft)."""
    first = steps[0]
    import json

    draft = await propose(
        client,
        chat_id,
        f"/call {first['service']} {first['operation']} {json.dumps(first['arguments'])}",
    )
    return dict(
        ok(
            await client.post(
                f"/api/runs/{draft['id']}/edit", json={"steps": steps, "summary": summary}
            ),
            201,
        )
    )


async def confirm(client: httpx.AsyncClient, run: dict[str, Any]) -> dict[str, Any]:
    return dict(
        ok(
            await client.post(
                f"/api/runs/{run['id']}/confirm", json={"plan_hash": run["plan_hash"]}
            )
        )
    )


async def wait_run(
    client: httpx.AsyncClient,
    run_id: str,
    statuses: frozenset[str] = FINAL,
    deadline_s: float = WAIT_S,
) -> dict[str, Any]:
    """Poll the run until its status is one of ``statuses`` (bounded, not a timing assertion)."""
    end = time.monotonic() + deadline_s
    run: dict[str, Any] = {}
    while time.monotonic() < end:
        run = ok(await client.get(f"/api/runs/{run_id}"))
        if run["status"] in statuses:
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run did not reach {sorted(statuses)}: {run}")


async def messages(client: httpx.AsyncClient, chat_id: str) -> list[dict[str, Any]]:
    return list(ok(await client.get(f"/api/chats/{chat_id}/messages", params={"limit": 200})))


async def chat_state(client: httpx.AsyncClient, chat_id: str) -> dict[str, Any]:
    return dict(ok(await client.get(f"/api/chats/{chat_id}/state")))


def processes_matching(text: str) -> list[int]:
    """Pids whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (
                (entry / "cmdline").read_bytes().replace(b"\x00", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


if __name__ == "__main__":
    counting_app, _ = make_counting_app()
    uvicorn.run(
        counting_app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off"
    )
