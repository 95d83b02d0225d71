"""A real webhook receiver on loopback: answers 200, 500-then-200, always 500, or never."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from tests.support.serve import serve_asgi
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
    # A short graceful shutdown: the "hang" receiver never answers on purpose.
    server = serve_asgi(_app(served), graceful_s=1)
    served.url = next(server)
    try:
        yield served
    finally:
        server.close()


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
