"""Invocation edges, tried as a hostile document or model would: reserved headers, the
registered base path (servers, no servers, redirects), and risks a document cannot lower."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from tests.conftest import make_token
from tests.services.conftest import Served
from tests.support.registry import invoke, new_project, operations, registry_of
from tests.support.serve import serve_asgi

from piloto.errors import Invalid
from piloto.services.arguments import InvalidArguments, build_request
from piloto.services.models import OperationSpec, ParamSpec
from piloto.services.openapi import parse_openapi

CREDENTIAL = "edge-credential-0123456789"


def _edge_app() -> tuple[FastAPI, Served]:
    app = FastAPI(openapi_url=None)
    served = Served(url="")

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        served.seen.append({"path": request.url.path, "headers": dict(request.headers)})
        return await call_next(request)

    @app.get("/api/echo")
    async def echo(request: Request) -> dict[str, Any]:
        return {"path": request.url.path}

    @app.get("/api/inside")
    async def inside() -> RedirectResponse:
        return RedirectResponse("/api/echo", status_code=302)

    @app.get("/api/outside")
    async def outside() -> RedirectResponse:
        return RedirectResponse("/admin/secret", status_code=302)

    @app.get("/api/sneaky")
    async def sneaky() -> RedirectResponse:
        return RedirectResponse("/api/../admin/secret", status_code=307)

    @app.get("/admin/secret")
    async def secret() -> dict[str, str]:
        return {"secret": "admin only"}

    @app.get("/api/openapi.json")
    async def document() -> dict[str, Any]:
        return dict(json.loads(_doc()))

    @app.get("/echo")
    async def root_echo(request: Request) -> dict[str, Any]:
        return {"path": request.url.path}

    return app, served


@pytest.fixture(scope="module")
def edge_server() -> Iterator[Served]:
    app, served = _edge_app()
    for url in serve_asgi(app):
        served.url = url
        yield served


def _doc(servers: list[dict[str, str]] | None = None) -> str:
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "edges", "version": "1"},
        "paths": {
            "/echo": {
                "get": {
                    "operationId": "echo",
                    "parameters": [
                        {"name": "Host", "in": "header", "schema": {"type": "string"}},
                        {
                            "name": "Proxy-Authorization",
                            "in": "header",
                            "schema": {"type": "string"},
                        },
                        {"name": "X-Api-Key", "in": "header", "schema": {"type": "string"}},
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                    ],
                }
            },
            "/inside": {"get": {"operationId": "inside"}},
            "/outside": {"get": {"operationId": "outside"}},
            "/sneaky": {"get": {"operationId": "sneaky"}},
            "/things": {
                "post": {"operationId": "make", "x-piloto-risk": "read"},
                "delete": {"operationId": "remove", "x-piloto-risk": "read"},
                "get": {"operationId": "list", "x-piloto-risk": "destructive"},
            },
        },
    }
    if servers is not None:
        doc["servers"] = servers
    return json.dumps(doc)


async def _register(
    client: httpx.AsyncClient, pid: str, base_url: str, document: str | None, name: str = "edge"
) -> dict[str, Any]:
    resp = await client.post(
        "/api/services",
        json={
            "name": name, "kind": "openapi", "project_id": pid, "base_url": base_url,
            "document": document, "headers": {"X-Api-Key": CREDENTIAL},
        },
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


# -- reserved headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Host", "host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade",
             "Proxy-Authorization", "Proxy-Connection", "X-Api-Key"],
)  # fmt: skip
def test_reserved_header_parameters_are_refused(name: str) -> None:
    """Even an operation stored before discovery dropped them cannot be called with them."""
    op = OperationSpec(
        operation_id="x", method="GET", path="/x", risk="read", idempotent=True,
        parameters=[ParamSpec(name=name, location="header", required=False, schema={"type": "string"})],
    )  # fmt: skip
    with pytest.raises(InvalidArguments, match="Piloto sets itself"):
        build_request(op, {name: "evil.example"}, credential_headers=["x-api-key"])


async def test_discovery_drops_reserved_headers_and_proposal_refuses_them(
    app_client: httpx.AsyncClient, edge_server: Served
) -> None:
    pid = await new_project(app_client)
    await _register(app_client, pid, f"{edge_server.url}/api", _doc())
    registry = registry_of(app_client)
    async with registry.db.read() as conn:
        resolved = await registry.resolve(conn, project_id=pid, service="edge", operation="echo")
    assert [p.name for p in resolved.spec.parameters] == ["X-Trace"]
    for name in ("Host", "X-Api-Key", "Proxy-Authorization"):
        with pytest.raises(Invalid, match="unknown argument"):
            registry.check_arguments(resolved, {name: "evil.example"})
    ok = await invoke(app_client, pid, "edge", "echo", **{"X-Trace": "t1"})
    assert ok.ok, ok.error
    sent = edge_server.seen[-1]["headers"]
    assert sent["host"] == edge_server.url.removeprefix("http://")
    assert sent["x-api-key"] == CREDENTIAL and sent["x-trace"] == "t1"


# -- the registered base path ----------------------------------------------------------------


@pytest.mark.parametrize(
    "servers",
    [None, [{"url": "/"}], [{"url": "http://placeholder/"}], [{"url": "/other"}]],
    ids=["no-servers", "root", "absolute-root", "other-path"],
)
async def test_calls_stay_under_the_registered_base_path(
    app_client: httpx.AsyncClient, edge_server: Served, servers: list[dict[str, str]] | None
) -> None:
    if servers and servers[0]["url"].startswith("http://placeholder"):
        servers = [{"url": edge_server.url + "/"}]
    pid = await new_project(app_client)
    svc = await _register(app_client, pid, f"{edge_server.url}/api", _doc(servers))
    assert svc["base_url"].startswith(f"{edge_server.url}/api"), svc["base_url"]
    edge_server.seen.clear()
    await invoke(app_client, pid, "edge", "echo")
    assert edge_server.seen and all(s["path"].startswith("/api/") for s in edge_server.seen)


async def test_redirects_stay_under_the_base_path(
    app_client: httpx.AsyncClient, edge_server: Served
) -> None:
    pid = await new_project(app_client)
    await _register(app_client, pid, f"{edge_server.url}/api", _doc())
    inside = await invoke(app_client, pid, "edge", "inside")
    assert inside.ok and inside.body == {"path": "/api/echo"}, inside
    for op in ("outside", "sneaky"):
        edge_server.seen.clear()
        refused = await invoke(app_client, pid, "edge", op)
        assert not refused.ok and "outside its registered base path" in (refused.error or "")
        assert all(not s["path"].startswith("/admin") for s in edge_server.seen)


# -- risk a document cannot lower ------------------------------------------------------------


def test_a_document_can_raise_a_risk_but_never_lower_it() -> None:
    ops = {op.operation_id: op for op in parse_openapi(_doc()).operations}
    assert ops["make"].risk == "write"  # POST declared read
    assert ops["remove"].risk == "destructive"  # DELETE declared read
    assert ops["list"].risk == "destructive"  # GET raised by its document
    assert ops["echo"].risk == "read"


async def test_destructive_operations_start_disabled_and_only_an_admin_changes_risk(
    app_client: httpx.AsyncClient, anon_client: httpx.AsyncClient, edge_server: Served
) -> None:
    pid = await new_project(app_client)
    svc = await _register(app_client, pid, f"{edge_server.url}/api", None)  # discovered
    ops = await operations(app_client, svc["id"])
    assert ops["remove"]["enabled"] is False and ops["list"]["enabled"] is False
    assert ops["make"]["enabled"] is True and ops["make"]["risk"] == "write"

    operator = await make_token(app_client, "operator")
    as_operator = await anon_client.patch(
        f"/api/services/{svc['id']}/operations/make",
        json={"risk": "read"},
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert as_operator.status_code == 403
    lowered = await app_client.patch(
        f"/api/services/{svc['id']}/operations/make", json={"risk": "read"}
    )
    assert lowered.status_code == 200 and lowered.json()["risk"] == "read", lowered.text
    enabled = await app_client.patch(
        f"/api/services/{svc['id']}/operations/remove", json={"enabled": True}
    )
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    audit = (await app_client.get("/api/audit", params={"limit": 50})).json()
    changes = [r["request_summary"] for r in audit if r["action"] == "operation.update"]
    assert any("make" in c and "read" in c for c in changes), changes

    refreshed = await app_client.post(f"/api/services/{svc['id']}/refresh")
    assert refreshed.status_code == 200 and refreshed.json()["status"] == "online", refreshed.text
    ops = await operations(app_client, svc["id"])
    assert ops["remove"]["enabled"] is True, "refresh keeps the admin's choice"
    assert ops["list"]["enabled"] is False
    assert ops["make"]["risk"] == "read" and ops["make"]["risk_override"] == "read"
