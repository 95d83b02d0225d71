"""An instance of Piloto in process, with its own data directory, for tests of several."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from piloto.app import create_app
from piloto.settings import Settings
from tests.support.settings import ADMIN_TOKEN, make_settings


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app in process with its lifespan, and a client speaking to it as the admin.

    The client carries the app as ``client.app`` for tests that look at its state.
    """
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://t",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=60,
        ) as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


@asynccontextmanager
async def instance(url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """One instance: the real app and its lifespan, its own data directory, as the admin."""
    async with app_client(
        make_settings(data_dir=data_dir, database_url=url, **overrides)
    ) as client:
        yield client
