"""Fixtures for the copilot-loop tests: the app with its runner, the scripted model, the toolbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from tests.support.instances import app_client
from tests.support.world import World, make_world

from piloto.llm.scripted import ScriptedLLM
from piloto.settings import Settings


@pytest.fixture
def loop_settings(settings: Settings, llm: ScriptedLLM) -> Settings:
    """Settings with the runner on and the scripted model (streaming, as by default)."""
    return settings.model_copy(
        update={
            "llm_base_url": llm.base_url,
            "llm_max_retries": 0,
            "llm_timeout_s": 5.0,
            "llm_context_tokens": 6000,
            "runner": True,
            "lease_s": 5.0,
            "heartbeat_s": 1.0,
            "retry_base_s": 0.01,
        }
    )


@pytest.fixture
def open_world(shared_toolbox: str) -> Callable[[Settings], Any]:
    """A factory: the real app (runner included) with the real toolbox registered as ``box``."""

    def factory(settings: Settings) -> Any:
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def opened() -> AsyncIterator[World]:
            async with app_client(settings) as client:
                yield await make_world(client, shared_toolbox)

        return opened()

    return factory


@pytest.fixture
async def loop_world(
    loop_settings: Settings, open_world: Callable[[Settings], Any]
) -> AsyncIterator[World]:
    """The default loop world."""
    async with open_world(loop_settings) as world:
        yield world


async def until(check: Callable[[], Awaitable[Any]], *, what: str, deadline_s: float = 30) -> Any:
    """Poll ``check`` until it returns something truthy (a bounded wait, not a timing assertion)."""
    end = time.monotonic() + deadline_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
