"""Project routes: thin wrappers around the repo."""

from __future__ import annotations

from fastapi import APIRouter

from piloto.auth.deps import Admin, Operator, Viewer
from piloto.deps import DB
from piloto.errors import Forbidden
from piloto.projects import repo
from piloto.projects.models import Project, ProjectIn, ProjectPatch

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.post("", status_code=201)
async def create_project(body: ProjectIn, db: DB, _: Operator) -> Project:
    """Create a project."""
    async with db.write() as conn:
        return await repo.create_project(conn, name=body.name, settings=body.settings)


@router.get("")
async def list_projects(db: DB, _: Viewer) -> list[Project]:
    """Every project."""
    async with db.read() as conn:
        return await repo.list_projects(conn)


@router.get("/{project_id}")
async def get_project(project_id: str, db: DB, _: Viewer) -> Project:
    """One project."""
    async with db.read() as conn:
        return await repo.get_project(conn, project_id=project_id)


@router.patch("/{project_id}")
async def update_project(
    project_id: str, body: ProjectPatch, db: DB, principal: Operator
) -> Project:
    """Rename a project; changing its settings (policy) needs an admin."""
    if body.settings is not None and not principal.can("admin"):
        raise Forbidden("Changing a project's settings needs the admin role.")
    async with db.write() as conn:
        return await repo.update_project(
            conn, project_id=project_id, name=body.name, settings=body.settings
        )


@router.delete("/{project_id}")
async def delete_project(project_id: str, db: DB, _: Admin) -> dict[str, bool]:
    """Delete a project with its chats, messages and runs."""
    async with db.write() as conn:
        await repo.delete_project(conn, project_id=project_id)
    return {"ok": True}
