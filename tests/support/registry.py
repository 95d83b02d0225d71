"""Helpers for tests that drive the service registry through the real app."""

from __future__ import annotations

from typing import Any

import httpx

from piloto.chat.service import ChatDeps, catalogue_for
from piloto.services.models import InvokeResult
from piloto.services.registry import ServiceRegistry


def registry_of(client: httpx.AsyncClient) -> ServiceRegistry:
    """The app's registry."""
    registry: ServiceRegistry = client.app.state.registry  # type: ignore[attr-defined]
    return registry


async def new_project(client: httpx.AsyncClient, name: str = "Ops") -> str:
    """Create a project through the API; its id."""
    resp = await client.post("/api/projects", json={"name": name})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def operations(client: httpx.AsyncClient, sid: str) -> dict[str, dict[str, Any]]:
    """A service's allowlist through the API, by operation id."""
    resp = await client.get(f"/api/services/{sid}/operations")
    assert resp.status_code == 200, resp.text
    return {op["operation"]: op for op in resp.json()}


async def invoke(
    client: httpx.AsyncClient, project_id: str, service: str, operation: str, **arguments: Any
) -> InvokeResult:
    """One call through the registry, as the runner makes it."""
    return await registry_of(client).invoke(
        project_id=project_id,
        service=service,
        operation=operation,
        arguments=arguments,
        idempotency_key=None,
    )


async def catalogue(client: httpx.AsyncClient, project_id: str) -> set[tuple[str, str]]:
    """(service, operation) pairs the model would be offered."""
    deps: ChatDeps = client.app.state.chat  # type: ignore[attr-defined]
    return {(e.service.name, e.operation.operation) for e in await catalogue_for(deps, project_id)}
