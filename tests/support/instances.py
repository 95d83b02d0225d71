"""An instance of Piloto in process, with its own data directory, for tests of several."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from piloto.app import create_app
from tests.support.settings import ADMIN_TOKEN, make_settings


@asynccontextmanager
async def instance(url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """One instance: the real app and its lifespan, its own data directory, as the admin."""
    app = create_app(make_settings(data_dir=data_dir, database_url=url, **overrides))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=60,
        ) as client,
    ):
        yield client
