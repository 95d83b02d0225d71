"""Fixtures for the toolbox tests: real sandboxes, real processes, the real app over ASGI."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from toolbox_helpers import TOKEN

from piloto.toolbox import Sandbox, ToolboxConfig, create_toolbox_app, prepare_sandbox


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def make_sandbox(workdir: Path) -> Callable[..., Awaitable[Sandbox]]:
    """`await make_sandbox(kind, **config)`: preparing probes with a process, so off the loop."""

    async def make(kind: str, **overrides: Any) -> Sandbox:
        config = ToolboxConfig(workdir=workdir, sandbox=kind, **overrides)  # type: ignore[arg-type]
        return await asyncio.to_thread(prepare_sandbox, config)

    return make


@pytest.fixture
def make_client(workdir: Path) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """`async with make_client(**config) as client`: an ASGI client for a fresh app."""

    @contextlib.asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        config = ToolboxConfig(**{"workdir": workdir, **overrides})
        app = await asyncio.to_thread(create_toolbox_app, config)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://toolbox") as client:
            yield client

    return make


@pytest.fixture
async def client(make_client: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c


@pytest.fixture
async def authed_client(make_client: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(token=TOKEN) as c:
        yield c
