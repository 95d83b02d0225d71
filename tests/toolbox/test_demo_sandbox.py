"""The demo toolbox `piloto serve` starts: sandboxed from the first minute, Piloto's own data
out of its commands' reach, and /api/health telling whether commands are sandboxed."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from toolbox_helpers import BWRAP_PROBLEM

from piloto.app import create_app
from piloto.settings import Settings

MiB = 1024**2
ADMIN_TOKEN = "demo-sandbox-admin-token-0123456789"


@pytest.fixture
async def piloto(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    """Piloto in process with its demo toolbox (a real one, on loopback), SQLite in data/."""
    data = tmp_path / "data"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data,
        database_url=f"sqlite:///{data / 'piloto.db'}",
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        demo=True,
        runner=False,
        llm_base_url=None,
        toolbox_disk_mb=32,
        toolbox_tmp_mb=8,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://piloto", headers=headers
        ) as client:
            yield client, data


async def demo_base_url(client: httpx.AsyncClient) -> str:
    services = (await client.get("/api/services")).json()
    items = services["items"] if isinstance(services, dict) else services
    return next(s["base_url"] for s in items if s["name"] == "demo")


def read(path: Path) -> bytes:
    return path.read_bytes()


async def test_health_says_whether_demo_commands_are_sandboxed(
    piloto: tuple[httpx.AsyncClient, Path],
) -> None:
    client, _ = piloto
    health = (await client.get("/api/health", headers={"Authorization": ""})).json()
    toolbox: dict[str, Any] = health["demo_toolbox"]
    assert toolbox["sandboxed"] is (toolbox["sandbox"] == "bubblewrap")
    assert toolbox["network"] is False  # PILOTO_TOOLBOX_NETWORK defaults to none
    if BWRAP_PROBLEM is None:
        assert (toolbox["sandbox"], toolbox["commands"]) == ("bubblewrap", "all")
    else:
        assert (toolbox["sandbox"], toolbox["commands"]) == ("rlimits", "read-only")


async def test_demo_commands_cannot_read_piloto_data(
    piloto: tuple[httpx.AsyncClient, Path],
) -> None:
    client, data = piloto
    token = (await asyncio.to_thread(read, data / "toolbox.token")).decode().strip()
    secret_key = await asyncio.to_thread(read, data / "secret.key")
    base_url = await demo_base_url(client)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as toolbox:
        health = (await toolbox.get("/health")).json()
        assert (health["disk_quota_bytes"], health["tmp_bytes"]) == (32 * MiB, 8 * MiB)
        if "hidden data directory" not in health["protections"] and health["sandbox"] != (
            "bubblewrap"
        ):
            pytest.skip("rlimits without Landlock as the service's own user cannot hide files")
        cmd = (
            f"cat {data}/piloto.db {data}/secret.key {data}/toolbox.token ../toolbox.token; "
            f"ls -la {data} ..; grep -ra . {data} | head -c 10000"
        )
        body = (await toolbox.post("/command", json={"cmd": cmd})).json()
    seen = body["stdout"] + body["stderr"]
    assert token not in seen
    assert secret_key.decode(errors="replace").strip() not in seen
    assert "SQLite format 3" not in seen
