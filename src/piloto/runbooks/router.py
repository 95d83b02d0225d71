"""Runbook routes (create from steps or a run, list, read, edit, delete, start as a draft) and
schedule routes (create, approve, read, list, enable or pause, delete)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from piloto.audit.log import append_audit
from piloto.auth.deps import Operator, Viewer
from piloto.deps import DB, AppSettings
from piloto.plans import repo as plans_repo
from piloto.runbooks import repo, schedule, service
from piloto.runbooks.models import RunbookIn, RunbookPatch, ScheduleIn, SchedulePatch, StartIn
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


async def _chat_lang(db: DB, chat_id: str, default: str) -> str:
    async with db.read() as conn:
        chat = await threads_repo.get_chat(conn, chat_id=chat_id)
    return chat.language or default


async def _schedule_view(db: DB, schedule_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        sched = await repo.get_schedule(conn, schedule_id=schedule_id)
        runbook = await repo.get_runbook(conn, runbook_id=sched.runbook_id)
        last = None
        if sched.last_run_id:
            run = await plans_repo.get_run(conn, run_id=sched.last_run_id, with_steps=False)
            last = {"id": run.id, "status": run.status, "created_at": run.created_at}
    return sched.model_dump() | {"runbook_name": runbook.name, "last_run": last}


@router.post("/schedules", status_code=201)
async def create_schedule(
    body: ScheduleIn, db: DB, registry: Registry, settings: AppSettings, principal: Operator
) -> dict[str, Any]:
    """Schedule a runbook in a chat; 422 naming a bad cron expression or time zone."""
    lang = await _chat_lang(db, body.chat_id, settings.language)
    sched = await schedule.create(db, registry, body=body, principal=principal, lang=lang)
    return await _schedule_view(db, sched.id)


@router.get("/schedules")
async def list_schedules(project_id: str, db: DB, _: Viewer) -> list[dict[str, Any]]:
    """A project's schedules with their next run."""
    async with db.read() as conn:
        ids = [s.id for s in await repo.list_schedules(conn, project_id=project_id)]
    return [await _schedule_view(db, i) for i in ids]


@router.get("/schedules/{schedule_id}")
async def get_schedule(schedule_id: str, db: DB, _: Viewer) -> dict[str, Any]:
    """A schedule: status, next run, last run, who approved."""
    return await _schedule_view(db, schedule_id)


@router.post("/schedules/{schedule_id}/approve")
async def approve_schedule(
    schedule_id: str, db: DB, registry: Registry, settings: AppSettings, principal: Operator
) -> dict[str, Any]:
    """One more person approves the runbook's current content for this schedule."""
    async with db.read() as conn:
        chat_id = (await repo.get_schedule(conn, schedule_id=schedule_id)).chat_id
    lang = await _chat_lang(db, chat_id, settings.language)
    await schedule.approve(db, registry, schedule_id=schedule_id, principal=principal, lang=lang)
    return await _schedule_view(db, schedule_id)


@router.patch("/schedules/{schedule_id}")
async def patch_schedule(
    schedule_id: str, body: SchedulePatch, db: DB, settings: AppSettings, principal: Operator
) -> dict[str, Any]:
    """Pause (``enabled: false``) or resume a schedule."""
    await schedule.set_enabled(
        db, schedule_id=schedule_id, enabled=body.enabled, principal=principal,
        lang=settings.language,
    )  # fmt: skip
    return await _schedule_view(db, schedule_id)


@router.delete("/schedules/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: str, db: DB, principal: Operator) -> Response:
    """Delete a schedule."""
    async with db.write() as conn:
        sched = await repo.get_schedule(conn, schedule_id=schedule_id)
        await repo.delete_schedule(conn, schedule_id=schedule_id)
        await append_audit(
            conn, actor=principal.name, action="schedule.delete", project_id=sched.project_id,
            chat_id=sched.chat_id, plan_hash=sched.runbook_hash,
        )  # fmt: skip
    return Response(status_code=204)
