"""Runbook routes: create (from steps or a run), list, read, edit, delete, start as a draft."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from piloto.auth.deps import Operator, Viewer
from piloto.deps import DB, AppSettings
from piloto.runbooks import repo, service
from piloto.runbooks.models import RunbookIn, RunbookPatch, StartIn
from piloto.services.deps import Registry
from piloto.threads import repo as threads_repo

router = APIRouter(prefix="/api", tags=["runbooks"])


@router.post("/runbooks", status_code=201)
async def create_runbook(
    body: RunbookIn, db: DB, registry: Registry, settings: AppSettings, principal: Operator
) -> dict[str, Any]:
    """Save a runbook; its steps are checked as a plan's are (422 naming each problem)."""
    runbook = await service.create(
        db, registry, body=body, by=principal.name, lang=settings.language
    )
    return runbook.model_dump()


@router.get("/runbooks")
async def list_runbooks(project_id: str, db: DB, _: Viewer) -> list[dict[str, Any]]:
    """A project's runbooks by name."""
    async with db.read() as conn:
        return [r.model_dump() for r in await repo.list_runbooks(conn, project_id=project_id)]


@router.get("/runbooks/{runbook_id}")
async def get_runbook(runbook_id: str, db: DB, _: Viewer) -> dict[str, Any]:
    """A runbook with its schedules."""
    async with db.read() as conn:
        runbook = await repo.get_runbook(conn, runbook_id=runbook_id)
        schedules = await repo.list_schedules(conn, runbook_id=runbook_id)
    return runbook.model_dump() | {"schedules": [s.model_dump() for s in schedules]}


@router.patch("/runbooks/{runbook_id}")
async def patch_runbook(
    runbook_id: str, body: RunbookPatch, db: DB, registry: Registry, settings: AppSettings,
    principal: Operator,
) -> dict[str, Any]:  # fmt: skip
    """Edit a runbook; a changed plan pauses its schedules."""
    runbook = await service.update(
        db, registry, runbook_id=runbook_id, patch=body, by=principal.name,
        lang=settings.language,
    )  # fmt: skip
    return runbook.model_dump()


@router.delete("/runbooks/{runbook_id}", status_code=204)
async def delete_runbook(runbook_id: str, db: DB, principal: Operator) -> Response:
    """Delete a runbook and its schedules."""
    await service.delete(db, runbook_id=runbook_id, by=principal.name)
    return Response(status_code=204)


@router.post("/runbooks/{runbook_id}/start", status_code=201)
async def start_runbook(
    runbook_id: str, body: StartIn, db: DB, registry: Registry, settings: AppSettings,
    principal: Operator,
) -> dict[str, Any]:  # fmt: skip
    """Propose the runbook's plan in a chat as a draft awaiting consent."""
    async with db.read() as conn:
        chat = await threads_repo.get_chat(conn, chat_id=body.chat_id)
    lang = chat.language or settings.language
    run = await service.start(
        db, registry, runbook_id=runbook_id, chat_id=body.chat_id, arguments=body.arguments,
        proposed_by=principal.name, lang=lang, ttl_s=settings.plan_ttl, proposed_for=principal,
    )  # fmt: skip
    return run.public()
