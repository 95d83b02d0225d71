"""A small world for conversation tests: a project, a chat, and the real toolbox registered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from piloto.toolbox.config import ToolboxConfig
from piloto.toolbox.server import start_toolbox

TOOLBOX_TOKEN = "toolbox-test-token"


@dataclass
class World:
    client: httpx.AsyncClient
    project_id: str
    chat_id: str
    service_id: str

    async def send(self, text: str, **headers: str) -> httpx.Response:
        return await self.client.post(
            "/api/send", json={"chat_id": self.chat_id, "text": text}, headers=headers
        )

    async def state(self) -> dict[str, object]:
        return dict((await self.client.get(f"/api/chats/{self.chat_id}")).json()["state"])

    async def messages(self) -> list[dict[str, object]]:
        return list(
            (
                await self.client.get(f"/api/chats/{self.chat_id}/messages", params={"limit": 200})
            ).json()
        )


@asynccontextmanager
async def toolbox(workdir: Path) -> AsyncIterator[str]:
    """The real bundled toolbox on a free loopback port."""
    running = await start_toolbox(ToolboxConfig(port=0, token=TOOLBOX_TOKEN, workdir=workdir))
    try:
        yield running.base_url
    finally:
        await running.stop()


async def make_world(client: httpx.AsyncClient, toolbox_url: str, *, name: str = "box") -> World:
    """Create a project and chat and register the toolbox as service ``name`` in it."""
    project = (await client.post("/api/projects", json={"name": "Ops"})).json()
    chat = (
        await client.post("/api/chats", json={"project_id": project["id"], "title": "t"})
    ).json()
    resp = await client.post(
        "/api/services",
        json={
            "name": name,
            "kind": "openapi",
            "project_id": project["id"],
            "base_url": toolbox_url,
            "bearer_token": TOOLBOX_TOKEN,
        },
    )
    assert resp.status_code == 201, resp.text
    return World(client, project["id"], chat["id"], resp.json()["id"])
