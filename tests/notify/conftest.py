"""A real webhook receiver on loopback: answers 200, 500-then-200, always 500, or never."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from tests.support.settings import make_settings

from piloto.settings import Settings


@dataclass
class Hook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """JSON bodies answered 200 on ``path``."""
        return [r["body"] for r in self.received if r["path"] == path and r["ok"]]


def _app(hook: Hook) -> FastAPI:
    app = FastAPI()

    @app.post("/{mode}/{key}")
    async def receive(mode: str, key: str, request: Request) -> JSONResponse:
        path = f"/{mode}/{key}"
        hook.attempts[path] = hook.attempts.get(path, 0) + 1
        body = await request.json()
        if mode == "hang":
            await asyncio.Event().wait()  # never answers; the notifier's timeout must act
        ok = mode == "ok" or (mode == "flaky" and hook.attempts[path] > 1)  # "down": never
        hook.received.append({"path": path, "body": body, "ok": ok})
        return JSONResponse({"ok": ok}, status_code=200 if ok else 500)

    return app


@pytest.fixture(scope="session")
def hook() -> Iterator[Hook]:
    """The receiver for the whole session; each test uses its own paths."""
    served = Hook(url="")
    config = uvicorn.Config(
        _app(served), host="127.0.0.1", port=0, log_level="warning", lifespan="off",
        ws="none", http="h11", loop="asyncio", timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "hook server did not start"
        time.sleep(0.01)
    served.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield served
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def hook_paths(request: pytest.FixtureRequest) -> dict[str, str]:
    """This test's own paths on the receiver, by mode."""
    key = request.node.name.replace("[", "-").replace("]", "")
    return {mode: f"/{mode}/{key}" for mode in ("ok", "flaky", "hang", "down")}


@pytest.fixture
def notify_urls(hook: Hook, hook_paths: dict[str, str]) -> list[str]:
    """Where the instance under test sends its notifications (tests override it)."""
    return [hook.url + hook_paths["flaky"]]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, notify_urls: list[str]) -> Settings:
    """An instance that notifies the receiver, retries fast and times out soon."""
    return make_settings(
        data_dir=tmp_path / "data", database_url=database_url, notify_urls=notify_urls,
        notify_retry_base_s=0.05, notify_poll_s=0.2, notify_timeout_s=1.0,
        public_url="https://piloto.example",
    )  # fmt: skip
