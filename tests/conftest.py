"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from piloto.app import create_app
from piloto.settings import Settings

ADMIN_TOKEN = "test-admin-token-0123456789"
PG_URL = os.environ.get("PILOTO_TEST_DATABASE_URL")


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: an SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'piloto.db'}"
        return
    if not PG_URL:
        pytest.skip(
            "PostgreSQL tests need PILOTO_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    schema = "t_" + secrets.token_hex(6)
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for an isolated instance: its own data dir and database, no demo, no model."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        demo=False,
        runner=False,
        llm_base_url=None,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app in process, lifespan included, authenticated as the admin."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def anon_client(app_client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same app without credentials."""
    transport = httpx.ASGITransport(app=app_client.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def make_token(client: httpx.AsyncClient, role: str) -> str:
    """Create a token with ``role`` through the API and return its secret."""
    resp = await client.post(
        "/api/tokens", json={"name": f"{role}-{secrets.token_hex(3)}", "role": role}
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])
