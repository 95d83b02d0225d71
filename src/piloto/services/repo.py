"""Service and operation rows (``MCPStore`` in the original plan)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.errors import Conflict, NotFound
from piloto.services.models import OperationSpec
from piloto.services.records import Operation, OperationPatch, Service, ServiceIn, Status
from piloto.store.ids import new_id, now
from piloto.store.schema import operations, services


@dataclass(frozen=True)
class ServiceRow:
    """A service with its private fields, for the registry's own use only."""

    service: Service
    credentials_enc: str | None


def _service(r: Any, op_count: int = 0) -> ServiceRow:
    svc = Service(
        id=r.id, name=r.name, kind=r.kind, project_id=r.scope or None, base_url=r.base_url,
        doc_url=r.doc_url, command=json.loads(r.command_json) if r.command_json else None,
        url=r.url, has_credentials=bool(r.credentials_enc), timeout_s=r.timeout_s,
        allow_offline=r.allow_offline, enabled=r.enabled, honours_idempotency=r.honours_idempotency,
        status=r.status, last_error=r.last_error, last_checked_at=r.last_checked_at,
        title=r.spec_title, created_at=r.created_at, operation_count=op_count,
    )  # fmt: skip
    return ServiceRow(svc, r.credentials_enc)


async def insert_service(
    conn: AsyncConnection, *, data: ServiceIn, base_url: str | None, credentials_enc: str | None
) -> str:
    """Store a new service (status offline until discovery says otherwise)."""
    scope = data.project_id or ""
    where = "in this project" if scope else "globally"
    taken = await conn.execute(
        select(services.c.id).where(services.c.scope == scope, services.c.name == data.name)
    )
    if taken.first() is not None:
        raise Conflict(f"A service named “{data.name}” already exists {where}.")
    sid = new_id()
    try:
        await conn.execute(insert(services).values(
            id=sid,
            scope=scope,
            name=data.name,
            kind=data.kind,
            base_url=base_url,
            doc_url=data.doc_url,
            command_json=json.dumps(data.command) if data.command else None,
            url=data.url,
            credentials_enc=credentials_enc,
            timeout_s=data.timeout_s,
            allow_offline=data.allow_offline,
            enabled=True,
            honours_idempotency=data.honours_idempotency,
            status="offline",
            created_at=now(),
        ))  # fmt: skip
    except IntegrityError as exc:
        # Two registrations (on PostgreSQL) raced past the check above: the loser's
        # transaction is rolled back and it gets the same 409, not a 500.
        raise Conflict(f"A service named “{data.name}” already exists {where}.") from exc
    return sid


async def get_service(conn: AsyncConnection, *, service_id: str) -> ServiceRow:
    """A service by id, or 404."""
    row = (await conn.execute(select(services).where(services.c.id == service_id))).first()
    if row is None:
        raise NotFound("No such service. It may have been removed.")
    count = (
        await conn.execute(
            select(func.count())
            .select_from(operations)
            .where(operations.c.service_id == service_id)
        )
    ).scalar_one()
    return _service(row, count)


async def list_services(conn: AsyncConnection, *, project_id: str | None = None) -> list[Service]:
    """Global services, plus a project's own when ``project_id`` is given."""
    counts = (
        select(operations.c.service_id, func.count().label("n"))
        .group_by(operations.c.service_id)
        .subquery()
    )
    scopes = [""] if project_id is None else ["", project_id]
    q = (
        select(services, func.coalesce(counts.c.n, 0).label("n"))
        .outerjoin(counts, counts.c.service_id == services.c.id)
        .order_by(services.c.name)
    )
    if project_id is not None:
        q = q.where(services.c.scope.in_(scopes))
    return [_service(r, r.n).service for r in await conn.execute(q)]


async def find_service(conn: AsyncConnection, *, project_id: str, name: str) -> ServiceRow | None:
    """The service ``name`` visible from a project: its own first, else a global one."""
    rows = (
        await conn.execute(
            select(services).where(
                services.c.name == name.strip().lower(),
                or_(services.c.scope == project_id, services.c.scope == ""),
            )
        )
    ).all()
    rows = sorted(rows, key=lambda r: r.scope == "")
    return _service(rows[0]) if rows else None


async def set_status(
    conn: AsyncConnection,
    *,
    service_id: str,
    status: Status,
    error: str | None = None,
    title: str | None = None,
) -> None:
    """Record the outcome of a discovery or health check."""
    values: dict[str, Any] = {"status": status, "last_error": error, "last_checked_at": now()}
    if title is not None:
        values["spec_title"] = title
    await conn.execute(update(services).where(services.c.id == service_id).values(**values))


async def update_service(conn: AsyncConnection, *, service_id: str, **values: Any) -> None:
    """Change plain columns of a service."""
    await conn.execute(update(services).where(services.c.id == service_id).values(**values))


async def delete_service(conn: AsyncConnection, *, service_id: str) -> None:
    """Remove a service and its operations."""
    await get_service(conn, service_id=service_id)
    await conn.execute(delete(services).where(services.c.id == service_id))


async def replace_operations(
    conn: AsyncConnection, *, service_id: str, specs: list[OperationSpec]
) -> None:
    """Make the allowlist match a fresh discovery, keeping an admin's enable and risk choices."""
    existing = {
        r.operation_id: r
        for r in await conn.execute(
            select(operations.c.id, operations.c.operation_id).where(
                operations.c.service_id == service_id
            )
        )
    }
    seen: set[str] = set()
    new_rows = []
    for spec in specs:
        if spec.operation_id in seen:
            continue
        seen.add(spec.operation_id)
        values = {
            "method": spec.method, "path": spec.path, "summary": spec.summary[:2000],
            "risk": spec.risk, "spec_json": spec.model_dump_json(by_alias=True),
        }  # fmt: skip
        if spec.operation_id in existing:
            await conn.execute(
                update(operations)
                .where(operations.c.id == existing[spec.operation_id].id)
                .values(**values)
            )
        else:
            new_rows.append(
                {
                    "id": new_id(),
                    "service_id": service_id,
                    "operation_id": spec.operation_id,
                    # Destructive operations wait for an admin to enable them (GitHub alone
                    # has 187 DELETEs); refresh keeps whatever the admin chose since.
                    "enabled": spec.risk != "destructive",
                    **values,
                }
            )
    if new_rows:
        await conn.execute(insert(operations), new_rows)
    gone = [r.id for op_id, r in existing.items() if op_id not in seen]
    if gone:
        await conn.execute(delete(operations).where(operations.c.id.in_(gone)))


def _operation(r: Any, with_spec: bool) -> Operation:
    return Operation(
        operation=r.operation_id, method=r.method, path=r.path, summary=r.summary,
        risk=r.risk_override or r.risk, risk_override=r.risk_override, enabled=r.enabled,
        spec=OperationSpec.model_validate_json(r.spec_json) if with_spec else None,
    )  # fmt: skip


async def list_operations(
    conn: AsyncConnection, *, service_id: str, with_spec: bool = False
) -> list[Operation]:
    """A service's allowlist, in discovery order."""
    cols = [operations] if with_spec else [c for c in operations.c if c.name != "spec_json"]
    rows = await conn.execute(
        select(*cols)
        .where(operations.c.service_id == service_id)
        .order_by(operations.c.path, operations.c.method)
    )
    return [_operation(r, with_spec) for r in rows]


async def find_operation(
    conn: AsyncConnection, *, service_id: str, operation: str
) -> Operation | None:
    """An operation by operationId or by ``METHOD /path``."""
    op = operation.strip()
    q = select(operations).where(operations.c.service_id == service_id)
    row = (await conn.execute(q.where(operations.c.operation_id == op))).first()
    if row is None:
        method, _, path = op.partition(" ")
        if path.startswith("/"):
            row = (
                await conn.execute(
                    q.where(
                        operations.c.method == method.upper(), operations.c.path == path.strip()
                    )
                )
            ).first()
    return _operation(row, True) if row else None


async def patch_operation(
    conn: AsyncConnection, *, service_id: str, operation: str, patch: OperationPatch
) -> Operation:
    """Enable or disable an operation, or override its risk."""
    found = await find_operation(conn, service_id=service_id, operation=operation)
    if found is None:
        raise NotFound(f"This service has no operation “{operation}”.")
    values: dict[str, Any] = {}
    if patch.enabled is not None:
        values["enabled"] = patch.enabled
    if patch.risk is not None:
        values["risk_override"] = patch.risk
    if values:
        await conn.execute(
            update(operations)
            .where(
                operations.c.service_id == service_id, operations.c.operation_id == found.operation
            )
            .values(**values)
        )
    result = await find_operation(conn, service_id=service_id, operation=found.operation)
    assert result is not None
    return result
