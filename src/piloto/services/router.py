"""Tool-service routes: thin wrappers around the registry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from piloto.audit.log import append_audit
from piloto.auth.deps import Admin, Viewer
from piloto.deps import DB, AppSettings
from piloto.errors import Invalid
from piloto.services import repo
from piloto.services.deps import Registry
from piloto.services.importer import ImportIn, ImportOutcome, import_mcp_config
from piloto.services.records import OperationPatch, Service, ServiceIn, ServicePatch

router = APIRouter(prefix="/api/services", tags=["services"])


@router.post("", status_code=201)
async def register_service(body: ServiceIn, registry: Registry, principal: Admin) -> Service:
    """Register an OpenAPI or MCP service and discover its operations."""
    return await registry.register(body, actor=principal.name)


@router.post("/import")
async def import_services(
    body: ImportIn, registry: Registry, principal: Admin, settings: AppSettings
) -> dict[str, list[ImportOutcome]]:
    """Register each server of a Claude Desktop / Cursor ``mcpServers`` config; each outcome."""
    try:
        results = await import_mcp_config(
            registry, config=body.config, project_id=body.project_id, actor=principal.name,
            allow_offline=body.allow_offline, lang=settings.language,
        )  # fmt: skip
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    return {"results": results}


@router.get("")
async def list_services(
    db: DB, _: Viewer, project_id: str | None = Query(default=None, max_length=64)
) -> list[Service]:
    """Global services, and a project's own when ``project_id`` is given."""
    async with db.read() as conn:
        return await repo.list_services(conn, project_id=project_id)


@router.get("/{service_id}")
async def get_service(service_id: str, db: DB, _: Viewer) -> Service:
    """One service (credentials are never returned)."""
    async with db.read() as conn:
        return (await repo.get_service(conn, service_id=service_id)).service


@router.patch("/{service_id}")
async def update_service(service_id: str, body: ServicePatch, db: DB, principal: Admin) -> Service:
    """Enable or disable a service, or change its options."""
    async with db.write() as conn:
        svc = (await repo.get_service(conn, service_id=service_id)).service
        values = body.model_dump(exclude_none=True)
        if values:
            await repo.update_service(conn, service_id=service_id, **values)
            await append_audit(
                conn,
                actor=principal.name,
                action="service.update",
                project_id=svc.project_id,
                request_summary=f"{svc.name} {values}",
            )
        return (await repo.get_service(conn, service_id=service_id)).service


@router.post("/{service_id}/refresh")
async def refresh_service(service_id: str, registry: Registry, _: Admin) -> Service:
    """Discover the service's operations again; the admin's choices are kept."""
    return await registry.refresh(service_id)


@router.delete("/{service_id}")
async def delete_service(service_id: str, db: DB, principal: Admin) -> dict[str, bool]:
    """Remove a service and its operations."""
    async with db.write() as conn:
        svc = (await repo.get_service(conn, service_id=service_id)).service
        await repo.delete_service(conn, service_id=service_id)
        await append_audit(
            conn,
            actor=principal.name,
            action="service.remove",
            project_id=svc.project_id,
            request_summary=svc.name,
        )
    return {"ok": True}


@router.get("/{service_id}/operations")
async def list_operations(service_id: str, db: DB, _: Viewer) -> list[dict[str, Any]]:
    """The allowlist: operation, method, path, risk, enabled."""
    async with db.read() as conn:
        await repo.get_service(conn, service_id=service_id)
        return [op.public() for op in await repo.list_operations(conn, service_id=service_id)]


@router.patch("/{service_id}/operations/{operation:path}")
async def patch_operation(
    service_id: str, operation: str, body: OperationPatch, db: DB, principal: Admin
) -> dict[str, Any]:
    """Enable or disable one operation, or override its risk."""
    async with db.write() as conn:
        svc = (await repo.get_service(conn, service_id=service_id)).service
        op = await repo.patch_operation(
            conn, service_id=service_id, operation=operation, patch=body
        )
        await append_audit(conn, actor=principal.name, action="operation.update", project_id=svc.project_id,
                           request_summary=f"{svc.name} {op.operation} {body.model_dump(exclude_none=True)}")  # fmt: skip
        return op.public()
