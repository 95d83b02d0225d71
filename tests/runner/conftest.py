"""Fixtures for the runner tests: the app with its runner, a counting service, a toolbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from runner_support import CountingState, make_counting_app, open_app, serve_in_thread
from tests.support.settings import make_settings

from piloto.llm.scripted import ScriptedLLM
from piloto.settings import Settings
from piloto.toolbox import ToolboxConfig, start_toolbox_in_thread


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """An isolated instance with its runner on and tiny retry delays; leases long enough that
    a busy machine never lets one expire under a live runner (no test here waits for expiry)."""
    return make_settings(
        data_dir=tmp_path / "data", database_url=database_url, runner=True, retry_base_s=0.01
    )


@pytest.fixture
def counting() -> Iterator[tuple[str, CountingState]]:
    """The counting service on loopback: (base URL, what it received)."""
    app, state = make_counting_app()
    with serve_in_thread(app) as url:
        yield url, state


@pytest.fixture
def toolbox_url(tmp_path: Path) -> Iterator[str]:
    """The real toolbox on a free loopback port."""
    work = tmp_path / "toolbox-work"
    work.mkdir()
    url, stop = start_toolbox_in_thread(ToolboxConfig(port=0, workdir=work, default_timeout_s=60))
    try:
        yield url
    finally:
        stop()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its runner, no model."""
    async with open_app(settings) as c:
        yield c


@pytest.fixture
async def llm_client(settings: Settings, llm: ScriptedLLM) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its runner and the scripted model."""
    configured = settings.model_copy(
        update={"llm_base_url": llm.base_url, "llm_max_retries": 0, "llm_stream": False}
    )
    async with open_app(configured) as c:
        yield c
