"""The ecosystem's MCP config (Claude Desktop, Cursor) imported in one call, through the real
app and the CLI: real servers from PyPI over stdio and HTTP, and entries built to fail."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import make_token
from tests.services.conftest import Served
from tests.support.registry import new_project
from tests.support.settings import make_settings

from piloto.settings import Settings

TIME = {"command": sys.executable, "args": ["-m", "mcp_server_time"]}
SECRET = "sk-import-secret-0123456789"


async def _import(client: httpx.AsyncClient, config: Any, **body: Any) -> httpx.Response:
    return await client.post("/api/services/import", json={"config": config, **body})


def _by_name(resp: httpx.Response) -> dict[str, dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    return {r["name"]: r for r in resp.json()["results"]}


@pytest.mark.slow
async def test_a_claude_desktop_config_imports_in_one_call(
    app_client: httpx.AsyncClient, mcp_http_server: Served
) -> None:
    pid = await new_project(app_client)
    config = {
        "mcpServers": {
            "Time Server": {**TIME, "env": {"API_KEY": SECRET}},
            "remote": {"url": mcp_http_server.url, "headers": {"X-Api-Key": SECRET}},
            "ghost": {"command": "/nonexistent/mcp-server-ghost", "args": ["--stdio"]},
            "broken": "npx -y something",
            "empty": {},
            "metadata": {"url": "http://169.254.169.254/mcp"},
            "off": {**TIME, "disabled": True},
            "args-injection": {"command": sys.executable, "args": "-c 'import os'"},
        }
    }
    results = _by_name(await _import(app_client, config, project_id=pid))
    assert results["Time Server"]["status"] == "registered"
    assert results["Time Server"]["service"] == "time-server"
    assert results["Time Server"]["operations"] >= 2
    assert results["remote"]["status"] == "registered" and results["remote"]["operations"] >= 1
    assert (
        results["ghost"]["status"] == "failed" and "Discovery failed" in results["ghost"]["reason"]
    )
    assert (
        results["broken"]["status"] == "failed" and "not an object" in results["broken"]["reason"]
    )
    assert (
        results["empty"]["status"] == "failed" and "neither command" in results["empty"]["reason"]
    )
    assert results["metadata"]["status"] == "failed"
    assert results["off"]["status"] == "skipped"
    assert results["args-injection"]["status"] == "failed"
    assert "args" in results["args-injection"]["reason"]
    services = {
        s["name"]: s
        for s in (await app_client.get("/api/services", params={"project_id": pid})).json()
    }
    # Only the two that work were kept; nothing half-registered from the failures.
    assert set(services) == {"time-server", "remote"}
    assert services["time-server"]["has_credentials"] and services["remote"]["has_credentials"]
    assert SECRET not in json.dumps(services) and SECRET not in json.dumps(results)
    # Importing again: each name now exists, each says so, none aborts the other.
    again = _by_name(
        await _import(app_client, {"mcpServers": {"time server": TIME}}, project_id=pid)
    )
    assert again["time server"]["status"] == "failed"
    assert "already exists" in again["time server"]["reason"]


@pytest.mark.parametrize(
    "config", [{}, {"mcpServers": {}}, {"mcpServers": []}, {"mcpServers": "x"}]
)
async def test_a_config_without_servers_is_refused(
    app_client: httpx.AsyncClient, config: Any
) -> None:
    resp = await _import(app_client, config)
    assert resp.status_code == 422, resp.text
    assert "mcpServers" in resp.json()["detail"]


async def test_too_many_entries_are_refused_before_any_process_starts(
    app_client: httpx.AsyncClient,
) -> None:
    servers = {f"s{i}": {"command": "/nonexistent/x"} for i in range(101)}
    resp = await _import(app_client, {"mcpServers": servers})
    assert resp.status_code == 422
    assert (await app_client.get("/api/services")).json() == []


async def test_only_those_who_register_services_may_import(app_client: httpx.AsyncClient) -> None:
    operator = await make_token(app_client, "operator")
    resp = await app_client.post(
        "/api/services/import",
        json={"config": {"mcpServers": {"t": TIME}}},
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert resp.status_code == 403


async def test_an_unknown_project_fails_each_entry_with_why(app_client: httpx.AsyncClient) -> None:
    results = _by_name(await _import(app_client, {"mcpServers": {"t": TIME}}, project_id="nope"))
    assert results["t"]["status"] == "failed" and results["t"]["reason"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The CLI runs as another process on the same database: SQLite is enough for it.
    return make_settings(
        data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'piloto.db'}"
    )


@pytest.mark.slow
async def test_the_cli_imports_a_file(
    app_client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    pid = await new_project(app_client, "Cli")
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(
        json.dumps({"mcpServers": {"time": TIME, "ghost": {"command": "/nonexistent/ghost"}}})
    )
    env = {
        **os.environ,
        "PILOTO_DATABASE_URL": settings.resolved_database_url,
        "PILOTO_DATA_DIR": str(settings.data_dir),
    }
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "piloto.cli", "services", "import", str(path), "--project", "Cli"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 1, cli.stderr  # one entry failed, and the exit status says so
    lines = {line.split()[1].rstrip(":"): line for line in cli.stdout.splitlines()}
    assert lines["time"].startswith("registered") and lines["ghost"].startswith("failed")
    names = [
        s["name"]
        for s in (await app_client.get("/api/services", params={"project_id": pid})).json()
    ]
    assert names == ["time"]
