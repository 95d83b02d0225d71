"""Each instance on one database keeps its own demo registration: a later start never points
another instance's ``demo`` at its own toolbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.instances import instance

SECRET = "demo-instances-shared"


async def _demos(client: httpx.AsyncClient) -> dict[str, Any]:
    listed = (await client.get("/api/services")).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    return {s["name"]: s["base_url"] for s in items if s["name"].startswith("demo")}


async def test_two_instances_two_demos(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share a database only on PostgreSQL")
    opts: dict[str, Any] = {"secret_key": SECRET, "demo": True, "toolbox_disk_mb": 16}
    async with instance(database_url, tmp_path / "a", port=8101, **opts) as a:
        first = await _demos(a)
        assert list(first) == ["demo"], first
        async with instance(database_url, tmp_path / "b", port=8102, **opts) as b:
            both = await _demos(b)
            health = (await b.get("/api/health")).json()
        assert set(both) == {"demo", "demo-8102"}, both
        assert both["demo"] == first["demo"], "B re-pointed A's demo at its own toolbox"
        assert both["demo-8102"] != first["demo"]
        assert health["demo_toolbox"]["service"] == "demo-8102"
    # Restarts keep each instance's own name: nothing new is registered.
    async with instance(database_url, tmp_path / "b", port=8102, **opts) as b:
        again = await _demos(b)
    assert set(again) == {"demo", "demo-8102"}, again
    assert again["demo"] == first["demo"]


async def test_one_instance_keeps_demo(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'piloto.db'}"
    opts: dict[str, Any] = {"demo": True, "toolbox_disk_mb": 16}
    for _ in range(2):
        async with instance(url, tmp_path / "data", port=8103, **opts) as a:
            assert list(await _demos(a)) == ["demo"]
