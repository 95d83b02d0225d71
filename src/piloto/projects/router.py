"""Project routes: thin wrappers around the repo."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter

from piloto.auth.deps import Admin, Operator, Viewer
from piloto.auth.tokens import Principal
from piloto.deps import DB, AppSettings
from piloto.projects import repo
from piloto.projects.models import Project, ProjectIn, ProjectPatch, ProjectSettings
from piloto.projects.service import check_may_set, merge_settings

router = APIRouter(prefix="/api/projects", tags=["projects"])


def _shown(project: Project, principal: Principal) -> Project:
    """The project as ``principal`` may see it: a webhook URL's path (often its secret) only
    for admins, who set them."""
    if principal.can("admin") or not project.settings.notify_urls:
        return project
    masked = [_origin(url) for url in project.settings.notify_urls]
    return project.model_copy(
        update={"settings": project.settings.model_copy(update={"notify_urls": masked})}
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


@router.post("", status_code=201)
async def create_project(
    body: ProjectIn, db: DB, settings: AppSettings, principal: Operator
) -> Project:
    """Create a project; its settings (policy) need an admin, as on update."""
    check_may_set(body.settings, principal, settings.language)
    project_settings = (
        merge_settings(ProjectSettings(), body.settings, settings.language)
        if body.settings
        else None
    )
    async with db.write() as conn:
        return await repo.create_project(conn, name=body.name, settings=project_settings)


@router.get("")
async def list_projects(db: DB, principal: Viewer) -> list[Project]:
    """Every project."""
    async with db.read() as conn:
        return [_shown(p, principal) for p in await repo.list_projects(conn)]


@router.get("/{project_id}")
async def get_project(project_id: str, db: DB, principal: Viewer) -> Project:
    """One project."""
    async with db.read() as conn:
        return _shown(await repo.get_project(conn, project_id=project_id), principal)


@router.patch("/{project_id}")
async def update_project(
    project_id: str, body: ProjectPatch, db: DB, settings: AppSettings, principal: Operator
) -> Project:
    """Rename a project; its settings (policy) need an admin and are merged, not replaced."""
    check_may_set(body.settings, principal, settings.language)
    async with db.write() as conn:
        merged = None
        if body.settings is not None:
            current = await repo.get_project(conn, project_id=project_id)
            merged = merge_settings(current.settings, body.settings, settings.language)
        updated = await repo.update_project(
            conn, project_id=project_id, name=body.name, settings=merged
        )
        return _shown(updated, principal)


@router.delete("/{project_id}")
async def delete_project(project_id: str, db: DB, _: Admin) -> dict[str, bool]:
    """Delete a project with its chats, messages and runs."""
    async with db.write() as conn:
        await repo.delete_project(conn, project_id=project_id)
    return {"ok": True}
