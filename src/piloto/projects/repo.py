"""Project rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.errors import Conflict, Invalid, NotFound
from piloto.projects.models import Project, ProjectSettings
from piloto.store.ids import new_id, now
from piloto.store.schema import projects


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise Invalid("A project needs a name.")
    return cleaned


def _row(r: Any) -> Project:
    return Project(
        id=r.id, name=r.name, settings=ProjectSettings.model_validate_json(r.settings_json),
        created_at=r.created_at, updated_at=r.updated_at,
    )  # fmt: skip


async def create_project(
    conn: AsyncConnection, *, name: str, settings: ProjectSettings | None = None
) -> Project:
    """Create a project; 409 when the name is taken."""
    name = _clean_name(name)
    if await find_project_by_name(conn, name=name) is not None:
        raise Conflict(f"A project named “{name}” already exists.")
    t = now()
    pid = new_id()
    settings = settings or ProjectSettings()
    try:
        await conn.execute(
            insert(projects).values(
                id=pid,
                name=name,
                settings_json=settings.model_dump_json(),
                created_at=t,
                updated_at=t,
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"A project named “{name}” already exists.") from exc
    return Project(id=pid, name=name, settings=settings, created_at=t, updated_at=t)


async def get_project(conn: AsyncConnection, *, project_id: str) -> Project:
    """One project, or 404."""
    row = (await conn.execute(select(projects).where(projects.c.id == project_id))).first()
    if row is None:
        raise NotFound("No such project. It may have been deleted.")
    return _row(row)


async def find_project_by_name(conn: AsyncConnection, *, name: str) -> Project | None:
    """A project by exact name."""
    row = (await conn.execute(select(projects).where(projects.c.name == name))).first()
    return _row(row) if row else None


async def list_projects(conn: AsyncConnection) -> list[Project]:
    """All projects by name."""
    return [_row(r) for r in await conn.execute(select(projects).order_by(projects.c.name))]


async def update_project(
    conn: AsyncConnection,
    *,
    project_id: str,
    name: str | None = None,
    settings: ProjectSettings | None = None,
) -> Project:
    """Rename a project or change its settings."""
    current = await get_project(conn, project_id=project_id)
    values: dict[str, Any] = {"updated_at": now()}
    if name is not None:
        name = _clean_name(name)
        other = await find_project_by_name(conn, name=name)
        if other is not None and other.id != project_id:
            raise Conflict(f"A project named “{name}” already exists.")
        values["name"] = name
    if settings is not None:
        values["settings_json"] = settings.model_dump_json()
    await conn.execute(update(projects).where(projects.c.id == project_id).values(**values))
    return current.model_copy(
        update={k: v for k, v in (("name", name), ("settings", settings)) if v is not None}
        | {"updated_at": values["updated_at"]}
    )


async def delete_project(conn: AsyncConnection, *, project_id: str) -> None:
    """Delete a project with its chats (cascade)."""
    await get_project(conn, project_id=project_id)
    await conn.execute(delete(projects).where(projects.c.id == project_id))
