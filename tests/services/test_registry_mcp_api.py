"""The service registry through the HTTP API of the real app: MCP services, over stdio
(``mcp-server-time`` from PyPI, and a small SDK server that reports its environment) and over
streamable HTTP (the SDK's server on loopback)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.services.conftest import Served
from tests.support.instances import app_client as open_app
from tests.support.prism import free_port
from tests.support.registry import catalogue as _catalogue
from tests.support.registry import invoke as _invoke
from tests.support.registry import new_project as _project
from tests.support.registry import operations as _operations

from piloto.errors import Forbidden
from piloto.settings import Settings
from piloto.store.db import Database
from piloto.store.schema import audit_log, services

TIME_SERVER = [sys.executable, "-m", "mcp_server_time"]
# A stdio MCP server that says whether it received a variable, by digest (never the value).
ENV_SERVER = [
    sys.executable,
    "-c",
    "import hashlib, os\n"
    "from mcp.server.mcpserver import MCPServer\n"
    "server = MCPServer('env-check')\n"
    "@server.tool()\n"
    "def env_digest(name: str) -> str:\n"
    "    return hashlib.sha256(os.environ.get(name, '').encode()).hexdigest()\n"
    "server.run()\n",
]


async def _register(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/services", json={"kind": "mcp", **body})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def _service_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/services")).json())


@pytest.mark.slow
async def test_time_server_over_stdio(app_client: httpx.AsyncClient) -> None:
    pid = await _project(app_client)
    svc = await _register(app_client, name="time", command=TIME_SERVER)
    assert svc["status"] == "online", svc
    assert svc["command"] == TIME_SERVER and svc["url"] is None and svc["base_url"] is None

    ops = await _operations(app_client, svc["id"])
    assert {"get_current_time", "convert_time"} <= ops.keys()
    current = ops["get_current_time"]
    assert (current["method"], current["path"], current["risk"]) == (
        "TOOL",
        "get_current_time",
        "read",
    )
    assert ("time", "get_current_time") in await _catalogue(app_client, pid)

    result = await _invoke(app_client, pid, "time", "get_current_time", timezone="UTC")
    assert result.ok, result.error
    assert isinstance(result.body, dict) and result.body["timezone"] == "UTC"

    # disabled: not in the catalogue, refused before the pool is asked
    resp = await app_client.patch(
        f"/api/services/{svc['id']}/operations/get_current_time", json={"enabled": False}
    )
    assert resp.status_code == 200 and resp.json()["enabled"] is False, resp.text
    assert ("time", "get_current_time") not in await _catalogue(app_client, pid)
    with pytest.raises(Forbidden, match="disabled"):
        await _invoke(app_client, pid, "time", "get_current_time", timezone="UTC")

    # refresh keeps the choice
    resp = await app_client.post(f"/api/services/{svc['id']}/refresh")
    assert resp.status_code == 200 and resp.json()["status"] == "online", resp.text
    assert (await _operations(app_client, svc["id"]))["get_current_time"]["enabled"] is False


async def test_streamable_http_server(
    app_client: httpx.AsyncClient, mcp_http_server: Served
) -> None:
    pid = await _project(app_client)
    svc = await _register(app_client, name="remote", url=mcp_http_server.url)
    assert svc["status"] == "online" and svc["url"] == mcp_http_server.url, svc

    ops = await _operations(app_client, svc["id"])
    assert {name: op["risk"] for name, op in ops.items()} == {
        "peek": "read",
        "wipe": "destructive",
        "sleepy": "write",
    }
    assert all(op["method"] == "TOOL" for op in ops.values())

    calls = mcp_http_server.state["calls"]
    result = await _invoke(app_client, pid, "remote", "peek", name="piloto")
    assert result.ok, result.error
    assert "hello piloto" in str(result.body)
    assert mcp_http_server.state["calls"] == calls + 1

    # a disabled destructive tool is refused and never reaches the server
    resp = await app_client.patch(
        f"/api/services/{svc['id']}/operations/wipe", json={"enabled": False}
    )
    assert resp.status_code == 200, resp.text
    wiped = mcp_http_server.state["wiped"]
    with pytest.raises(Forbidden, match="“wipe” of “remote” is disabled"):
        await _invoke(app_client, pid, "remote", "wipe", target="/")
    assert mcp_http_server.state["wiped"] == wiped
    assert ("remote", "wipe") not in await _catalogue(app_client, pid)

    # a disabled service: nothing at all
    resp = await app_client.patch(f"/api/services/{svc['id']}", json={"enabled": False})
    assert resp.status_code == 200, resp.text
    assert await _catalogue(app_client, pid) == set()
    with pytest.raises(Forbidden, match="service “remote” is disabled"):
        await _invoke(app_client, pid, "remote", "peek", name="x")
    assert mcp_http_server.state["calls"] == calls + 1

    # risk override
    resp = await app_client.patch(
        f"/api/services/{svc['id']}/operations/sleepy", json={"risk": "read"}
    )
    assert resp.status_code == 200 and resp.json()["risk"] == "read", resp.text


async def test_http_credentials_sent_never_shown(
    app_client: httpx.AsyncClient, mcp_http_server: Served, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "mcp-" + secrets.token_hex(12)
    caplog.set_level(logging.DEBUG)
    pid = await _project(app_client)
    mcp_http_server.seen.clear()
    resp = await app_client.post(
        "/api/services",
        json={"name": "remote", "kind": "mcp", "url": mcp_http_server.url, "bearer_token": secret},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["has_credentials"] is True
    assert (await _invoke(app_client, pid, "remote", "peek", name="x")).ok
    assert mcp_http_server.seen
    assert all(s["headers"]["authorization"] == f"Bearer {secret}" for s in mcp_http_server.seen)

    texts = [resp.text]
    for url in ("/api/services", f"/api/services/{resp.json()['id']}",
                f"/api/services/{resp.json()['id']}/operations"):  # fmt: skip
        texts.append((await app_client.get(url)).text)
    db: Database = app_client.app.state.db  # type: ignore[attr-defined]
    async with db.read() as conn:
        texts.extend(str(row) for row in await conn.execute(select(audit_log)))
        texts.append(str((await conn.execute(select(services.c.credentials_enc))).scalar_one()))
    texts.extend(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    for text in texts:
        assert secret not in text, text


@pytest.mark.slow
async def test_stdio_environment_reaches_the_server_only(
    app_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "env-" + secrets.token_hex(12)
    caplog.set_level(logging.DEBUG)
    pid = await _project(app_client)
    svc = await _register(
        app_client, name="envcheck", command=ENV_SERVER, env={"PILOTO_SECRET": secret}
    )
    assert svc["status"] == "online" and svc["has_credentials"] is True, svc
    result = await _invoke(app_client, pid, "envcheck", "env_digest", name="PILOTO_SECRET")
    assert result.ok, result.error
    assert hashlib.sha256(secret.encode()).hexdigest() in str(result.body)
    listed = await app_client.get("/api/services")
    assert secret not in listed.text and secret not in str(svc)
    for record in caplog.records:
        assert secret not in record.getMessage() + repr(record.__dict__)


@pytest.mark.parametrize("allow_offline", [False, True])
async def test_unreachable_mcp_url(app_client: httpx.AsyncClient, allow_offline: bool) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    resp = await app_client.post(
        "/api/services",
        json={"name": "gone", "kind": "mcp", "url": url, "allow_offline": allow_offline},
    )
    if not allow_offline:
        assert resp.status_code == 422, resp.text
        detail = resp.json()["detail"]
        assert detail.startswith("Discovery failed: could not reach the MCP server"), detail
        assert detail.endswith("register with allow_offline to retry later.")
        assert await _service_count(app_client) == 0
        return
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "offline"
    assert body["last_error"].startswith("could not reach the MCP server"), body
    assert await _operations(app_client, body["id"]) == {}


@pytest.mark.slow
async def test_missing_stdio_program(app_client: httpx.AsyncClient) -> None:
    resp = await app_client.post(
        "/api/services",
        json={"name": "nope", "kind": "mcp", "command": ["/nonexistent/mcp-server"]},
    )
    assert resp.status_code == 422, resp.text
    assert "/nonexistent/mcp-server" in resp.json()["detail"]
    assert await _service_count(app_client) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "http://user:pw@127.0.0.1:1/mcp"}, "credentials in the URL are not allowed"),
        ({"url": "http://169.254.169.254/mcp"}, "cloud metadata address"),
        ({"url": "http://127.0.0.1:1/mcp", "command": ["x"]}, "either command or url, not both"),
        ({}, "needs either command (stdio) or url"),
    ],
)
async def test_invalid_mcp_registrations(
    app_client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    resp = await app_client.post(
        "/api/services", json={"name": "bad", "kind": "mcp", "allow_offline": True, **body}
    )
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["detail"]
    assert await _service_count(app_client) == 0


@pytest.fixture
async def no_loopback_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with a network policy that refuses loopback addresses."""
    async with open_app(settings.model_copy(update={"net_allow_loopback": False})) as client:
        yield client


async def test_network_policy_applies_to_mcp_over_http(
    no_loopback_client: httpx.AsyncClient, mcp_http_server: Served
) -> None:
    # "localhost" is a name: only the connection itself can vet the address it resolves to
    url = mcp_http_server.url.replace("127.0.0.1", "localhost")
    mcp_http_server.seen.clear()
    resp = await no_loopback_client.post(
        "/api/services", json={"name": "remote", "kind": "mcp", "url": url}
    )
    assert resp.status_code == 422, resp.text
    assert "loopback address; policy forbids it" in resp.json()["detail"]
    assert mcp_http_server.seen == []
    literal = await no_loopback_client.post(
        "/api/services",
        json={"name": "remote", "kind": "mcp", "url": mcp_http_server.url, "allow_offline": True},
    )
    assert literal.status_code == 422, literal.text
    assert "loopback address; policy forbids it" in literal.json()["detail"]
    assert mcp_http_server.seen == []
    assert (await no_loopback_client.get("/api/services")).json() == []
