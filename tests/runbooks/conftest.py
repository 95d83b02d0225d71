"""A project with the real toolbox registered as ``box``, and helpers for runbooks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.world import World, make_world

CMD = "run_command"


@pytest.fixture
async def world(app_client: httpx.AsyncClient, shared_toolbox: str) -> World:
    return await make_world(app_client, shared_toolbox)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def disk_runbook(world: World, **extra: Any) -> dict[str, Any]:
    """A runbook that reads disk usage under a ``path`` parameter."""
    return {
        "project_id": world.project_id,
        "name": "disk-usage",
        "summary": "Disk usage of a directory",
        "steps": [{"service": "box", "operation": CMD, "arguments": {"cmd": "du -s {{path}}"}}],
        "parameters": {"path": {"default": ".", "description": "directory"}},
        **extra,
    }


async def create(world: World, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await world.client.post("/api/runbooks", json=body, headers=headers)
