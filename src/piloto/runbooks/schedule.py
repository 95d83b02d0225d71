"""Schedules: consent given once to a runbook's exact content; create, approve, enable, pause."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.audit.log import append_audit
from piloto.auth.tokens import Principal
from piloto.errors import Conflict, Invalid
from piloto.i18n import t
from piloto.plans.confirm import plan_risk
from piloto.projects.repo import get_project
from piloto.runbooks import params, repo
from piloto.runbooks.models import Schedule, ScheduleIn
from piloto.runbooks.service import check_runbook_steps
from piloto.services.registry import ServiceRegistry
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.threads import repo as threads_repo


def next_fire(cron: str, tz: str, after: float) -> float:
    """The first firing strictly after ``after`` (epoch seconds), in the schedule's time zone."""
    start = datetime.fromtimestamp(after, ZoneInfo(tz))
    return next(CronSim(cron, start)).timestamp()


def _check_cron(cron: str, tz: str, lang: str) -> None:
    """422 naming what is wrong with the expression or the zone (reads the zone database)."""
    if len(cron.split()) != 5:
        reason = f"{len(cron.split())} fields"
        raise Invalid(t(lang, "schedule_invalid_cron", cron=cron, reason=reason), code="cron")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(t(lang, "schedule_invalid_timezone", tz=tz), code="timezone") from None
    try:
        CronSim(cron, datetime.now(ZoneInfo(tz)))
    except CronSimError as exc:
        raise Invalid(
            t(lang, "schedule_invalid_cron", cron=cron, reason=str(exc)), code="cron"
        ) from None


async def next_after(cron: str, tz: str, after: float) -> float:
    """``next_fire`` off the event loop: the zone database is read from disk the first time."""
    return await asyncio.to_thread(next_fire, cron, tz, after)


async def _bind(
    conn: AsyncConnection, registry: ServiceRegistry, *, runbook_id: str, chat_id: str,
    arguments: dict[str, Any], lang: str,
) -> tuple[Any, str, int]:  # fmt: skip
    """The runbook, the risk of its filled plan and the approvals the project requires for it."""
    runbook = await repo.get_runbook(conn, runbook_id=runbook_id)
    chat = await threads_repo.get_chat(conn, chat_id=chat_id)
    if chat.project_id != runbook.project_id:
        raise Invalid(t(lang, "runbook_other_project"), code="other_project")
    values = params.resolve_arguments(runbook.parameters, arguments, lang)
    checked = await check_runbook_steps(
        conn, registry, project_id=runbook.project_id, steps=runbook.steps, values=values,
        lang=lang,
    )  # fmt: skip
    risk = plan_risk([c.risk for c in checked])
    project = await get_project(conn, project_id=runbook.project_id)
    return runbook, risk, project.settings.approvals_for(risk)


async def create(
    db: Database, registry: ServiceRegistry, *, body: ScheduleIn, principal: Principal, lang: str
) -> Schedule:
    """Schedule a runbook; its creator is the first approver of this exact runbook hash."""
    await asyncio.to_thread(_check_cron, body.cron, body.timezone, lang)
    next_at = await next_after(body.cron, body.timezone, now())
    async with db.write() as conn:
        runbook, risk, required = await _bind(
            conn, registry, runbook_id=body.runbook_id, chat_id=body.chat_id,
            arguments=dict(body.arguments), lang=lang,
        )  # fmt: skip
        schedule_id = await repo.insert_schedule(
            conn, runbook_id=runbook.id, project_id=runbook.project_id, chat_id=body.chat_id,
            cron=body.cron, timezone=body.timezone, arguments=dict(body.arguments),
            runbook_hash=runbook.plan_hash, risk=risk, approvals_required=required,
            status="active" if required <= 1 else "pending_approval", next_run_at=next_at,
            created_by=principal.name,
        )  # fmt: skip
        await repo.add_schedule_approval(
            conn, schedule_id=schedule_id, principal=principal.token_id, name=principal.name,
            runbook_hash_=runbook.plan_hash,
        )  # fmt: skip
        await append_audit(
            conn, actor=principal.name, action="schedule.create", project_id=runbook.project_id,
            chat_id=body.chat_id, plan_hash=runbook.plan_hash,
            request_summary=f"{runbook.name} {body.cron} {body.timezone}", outcome=f"1/{required}",
        )  # fmt: skip
        await threads_repo.append_message(
            conn, chat_id=body.chat_id, role="event",
            content=t(lang, "schedule_created", actor=principal.name, name=runbook.name,
                      cron=body.cron, tz=body.timezone, count=1, required=required),
            meta={"kind": "schedule", "schedule_id": schedule_id},
        )  # fmt: skip
        return await repo.get_schedule(conn, schedule_id=schedule_id)


async def approve(
    db: Database, registry: ServiceRegistry, *, schedule_id: str, principal: Principal, lang: str
) -> Schedule:
    """One more person approves the runbook's current content; enough of them make it active.

    After the runbook changed, approving binds the schedule to the new content, and only
    approvals of that content count.
    """
    async with db.write() as conn:
        sched = await repo.get_schedule(conn, schedule_id=schedule_id)
        runbook, risk, required = await _bind(
            conn, registry, runbook_id=sched.runbook_id, chat_id=sched.chat_id,
            arguments=sched.arguments, lang=lang,
        )  # fmt: skip
        added = await repo.add_schedule_approval(
            conn, schedule_id=schedule_id, principal=principal.token_id, name=principal.name,
            runbook_hash_=runbook.plan_hash,
        )  # fmt: skip
        if not added:
            # An approval of an older content is replaced by one of the current content.
            if sched.runbook_hash == runbook.plan_hash:
                raise Conflict(t(lang, "schedule_already_approved"), code="already_approved")
            await repo.delete_schedule_approval(
                conn, schedule_id=schedule_id, principal=principal.token_id
            )
            await repo.add_schedule_approval(
                conn, schedule_id=schedule_id, principal=principal.token_id, name=principal.name,
                runbook_hash_=runbook.plan_hash,
            )  # fmt: skip
        await repo.set_schedule(
            conn, schedule_id=schedule_id, runbook_hash=runbook.plan_hash, risk=risk,
            approvals_required=required,
        )  # fmt: skip
        count = len((await repo.get_schedule(conn, schedule_id=schedule_id)).approved_by)
        if count >= required:
            await repo.set_schedule(
                conn, schedule_id=schedule_id, status="active", paused_reason=None,
                next_run_at=await next_after(sched.cron, sched.timezone, now()),
            )  # fmt: skip
        else:
            await repo.set_schedule(conn, schedule_id=schedule_id, status="pending_approval")
        await append_audit(
            conn, actor=principal.name, action="schedule.approve", project_id=sched.project_id,
            chat_id=sched.chat_id, plan_hash=runbook.plan_hash, outcome=f"{count}/{required}",
        )  # fmt: skip
        await threads_repo.append_message(
            conn, chat_id=sched.chat_id, role="event",
            content=t(lang, "schedule_approved", actor=principal.name, name=runbook.name,
                      count=count, required=required),
            meta={"kind": "schedule", "schedule_id": schedule_id},
        )  # fmt: skip
        return await repo.get_schedule(conn, schedule_id=schedule_id)


async def set_enabled(
    db: Database, *, schedule_id: str, enabled: bool, principal: Principal, lang: str
) -> Schedule:
    """Pause a schedule, or resume one whose runbook is unchanged and approved enough."""
    async with db.write() as conn:
        sched = await repo.get_schedule(conn, schedule_id=schedule_id)
        runbook = await repo.get_runbook(conn, runbook_id=sched.runbook_id)
        if not enabled:
            await repo.set_schedule(
                conn, schedule_id=schedule_id, status="paused",
                paused_reason=f"paused by {principal.name}",
            )  # fmt: skip
        elif runbook.plan_hash != sched.runbook_hash:
            raise Conflict(
                t(lang, "schedule_paused_changed", name=runbook.name), code="runbook_changed"
            )
        elif len(sched.approved_by) < sched.approvals_required:
            await repo.set_schedule(conn, schedule_id=schedule_id, status="pending_approval")
        else:
            await repo.set_schedule(
                conn, schedule_id=schedule_id, status="active", paused_reason=None,
                next_run_at=await next_after(sched.cron, sched.timezone, now()),
            )  # fmt: skip
        await append_audit(
            conn, actor=principal.name, action="schedule.enable" if enabled else "schedule.pause",
            project_id=sched.project_id, chat_id=sched.chat_id, plan_hash=sched.runbook_hash,
        )  # fmt: skip
        return await repo.get_schedule(conn, schedule_id=schedule_id)
