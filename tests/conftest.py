"""Shared fixtures: blocking calls fail async tests; a fresh database per test (SQLite, and
PostgreSQL when configured)."""

from __future__ import annotations

import inspect
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from blockbuster import BlockBuster, blockbuster_ctx
from sqlalchemy import create_engine, text

from piloto.app import create_app
from piloto.llm.scripted import ScriptedLLM
from piloto.settings import Settings
from piloto.toolbox import ToolboxConfig, start_toolbox_in_thread
from tests.support import parallel
from tests.support.settings import ADMIN_TOKEN, make_settings
from tests.support.world import TOOLBOX_TOKEN

__all__ = ["ADMIN_TOKEN", "PG_URL", "make_token"]
PG_URL = os.environ.get("PILOTO_TEST_DATABASE_URL")


# Where blocking on the event loop is accepted, each with its reason. A frame of one of these
# functions anywhere in the stack lets the call through.
BLOCKING_ALLOWED: list[tuple[str, set[str]]] = [
    # Building the app (static file checks, templates) runs once before serving; in production
    # it runs before the event loop starts, in tests inside the test's loop.
    ("piloto/app.py", {"create_app"}),
    # The lifespan's start (data dir, secret key file, Alembic in a thread, the admin token
    # printed once) runs once before the app serves anything: nothing waits on the loop yet.
    ("piloto/app.py", {"startup"}),
]


def pytest_configure(config: pytest.Config) -> None:
    parallel.configure(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    parallel.unconfigure(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers: the slow tests first, and the groups that must share a worker."""
    parallel.order_and_group(config, items)


@pytest.hookimpl(tryfirst=True)  # before xdist's own loadgroup (see tests.support.parallel)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` schedules by the groups of ``tests.support.parallel``."""
    if config.getoption("dist") == "loadgroup":
        return parallel.GroupScheduling(config, log)
    return None


@pytest.fixture(autouse=True)
def blockbuster(request: pytest.FixtureRequest) -> Iterator[BlockBuster | None]:
    """In every async test, a blocking call (file, socket, sleep, lock) that Piloto's code makes
    on an event loop (its own, the toolbox's, a live server's) fails the test with
    ``BlockingError``.

    Only calls with a frame of ``piloto`` in their stack count: test bodies may touch the disk
    to set up and check, which no user waits on; ruff's ASYNC rules catch ``time.sleep`` and
    sync HTTP in async tests statically. Needing no exemption: SQLite's aiosqlite thread and
    Alembic (run by ``asyncio.to_thread``) are off the loop; blockbuster itself lets writes to
    stdout and stderr (logging) through.
    """
    if not inspect.iscoroutinefunction(getattr(request.node, "obj", None)):
        yield None
        return
    with blockbuster_ctx("piloto") as bb:
        for filename, functions in BLOCKING_ALLOWED:
            for function in bb.functions.values():
                function.can_block_in(filename, functions)
        yield bb


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
    return make_settings(data_dir=tmp_path / "data", database_url=database_url)


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


@pytest.fixture(scope="session")
def scripted_llm_server() -> Iterator[ScriptedLLM]:
    """One scripted OpenAI-compatible server for the whole session."""
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def llm(scripted_llm_server: ScriptedLLM) -> ScriptedLLM:
    """The session's scripted model with an empty script and no recorded requests."""
    scripted_llm_server.reset()
    return scripted_llm_server


@pytest.fixture(scope="session")
def shared_toolbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real toolbox for the session (its URL), for tests that never look at its work
    directory; tests that do start their own with ``tests.support.world.toolbox``."""
    work = tmp_path_factory.mktemp("toolbox-work")
    url, stop = start_toolbox_in_thread(
        ToolboxConfig(port=0, token=TOOLBOX_TOKEN, workdir=work, default_timeout_s=60)
    )
    try:
        yield url
    finally:
        stop()


async def make_token(client: httpx.AsyncClient, role: str) -> str:
    """Create a token with ``role`` through the API and return its secret."""
    resp = await client.post(
        "/api/tokens", json={"name": f"{role}-{secrets.token_hex(3)}", "role": role}
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])
