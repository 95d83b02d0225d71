"""Runbooks: save (checked as any plan is), edit (pausing schedules bound to the old content),
start as a draft in a chat, and propose the runbooks an alert triggers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from piloto import notify
from piloto.audit.log import append_audit
from piloto.auth.tokens import Principal
from piloto.chat.direct import DirectError, DirectPlan
from piloto.errors import Invalid, PilotoError
from piloto.i18n import t
from piloto.plans import actions as plans_actions
from piloto.plans import repo as plans_repo
from piloto.plans.models import Outcome, PlanRun
from piloto.plans.validate import CheckedStep, check_plan
from piloto.projects.repo import get_project
from piloto.runbooks import params, repo
from piloto.runbooks.models import Runbook, RunbookIn, RunbookPatch, Schedule
from piloto.services.registry import ServiceRegistry
from piloto.store.db import Database
from piloto.threads import repo as threads_repo

log = logging.getLogger("piloto.runbooks")


def _declared(parameters: Mapping[str, Any], steps: list[dict[str, Any]], lang: str) -> None:
    used = params.placeholders([s.get("arguments") or {} for s in steps])
    undeclared = sorted(used - set(parameters))
    if undeclared:
        raise Invalid(
            t(lang, "runbook_undeclared_parameter", names=", ".join(undeclared)),
            code="undeclared_parameter",
        )


async def check_runbook_steps(
    conn: AsyncConnection,
    registry: ServiceRegistry,
    *,
    project_id: str,
    steps: list[dict[str, Any]],
    values: Mapping[str, Any],
    lang: str,
) -> list[CheckedStep]:
    """The steps filled with ``values`` and checked exactly as a proposed plan's are."""
    project = await get_project(conn, project_id=project_id)
    filled = params.fill_steps(steps, values, lang=lang)
    return await check_plan(
        conn, registry, project_id=project_id, settings=project.settings, steps=filled, lang=lang
    )


async def create(
    db: Database, registry: ServiceRegistry, *, body: RunbookIn, by: str, lang: str
) -> Runbook:
    """Save a runbook from steps, or from a run's plan (``from_run_id``); checked at save."""
    parameters = {k: v.model_dump(exclude_none=True) for k, v in body.parameters.items()}
    async with db.write() as conn:
        await get_project(conn, project_id=body.project_id)
        if body.from_run_id:
            run = await plans_repo.get_run(conn, run_id=body.from_run_id)
            if run.project_id != body.project_id:
                raise Invalid(t(lang, "runbook_other_project"), code="other_project")
            steps = [
                {"service": s.service, "operation": s.operation, "arguments": s.arguments}
                for s in run.steps
            ]
            summary = body.summary or run.summary
        elif body.steps:
            steps = [s.model_dump() for s in body.steps]
            summary = body.summary or body.name
        else:
            raise Invalid(t(lang, "runbook_needs_steps"), code="no_steps")
        _declared(parameters, steps, lang)
        await check_runbook_steps(
            conn, registry, project_id=body.project_id, steps=steps,
            values=params.sample_values(parameters), lang=lang,
        )  # fmt: skip
        runbook = await repo.insert_runbook(
            conn, project_id=body.project_id, name=body.name, summary=summary, steps=steps,
            parameters=parameters, triggers=[tr.model_dump() for tr in body.triggers],
            created_by=by,
        )  # fmt: skip
        await append_audit(
            conn, actor=by, action="runbook.create", project_id=body.project_id,
            plan_hash=runbook.plan_hash, request_summary=runbook.name,
        )  # fmt: skip
        return runbook


async def update(
    db: Database,
    registry: ServiceRegistry,
    *,
    runbook_id: str,
    patch: RunbookPatch,
    by: str,
    lang: str,
) -> Runbook:
    """Edit a runbook; when its content changes, every schedule bound to it pauses and says why."""
    fields: dict[str, Any] = patch.model_dump(exclude_none=True)
    if patch.steps is not None:
        fields["steps"] = [s.model_dump() for s in patch.steps]
    if patch.parameters is not None:
        fields["parameters"] = {
            k: v.model_dump(exclude_none=True) for k, v in patch.parameters.items()
        }
    async with db.write() as conn:
        old = await repo.get_runbook(conn, runbook_id=runbook_id)
        merged = old.model_dump() | fields
        _declared(merged["parameters"], merged["steps"], lang)
        await check_runbook_steps(
            conn, registry, project_id=old.project_id, steps=merged["steps"],
            values=params.sample_values(merged["parameters"]), lang=lang,
        )  # fmt: skip
        new = await repo.update_runbook(conn, runbook_id=runbook_id, fields=fields)
        await append_audit(
            conn, actor=by, action="runbook.update", project_id=new.project_id,
            plan_hash=new.plan_hash, request_summary=new.name,
        )  # fmt: skip
        if new.plan_hash != old.plan_hash:
            await pause_schedules(conn, runbook=new, reason_key="schedule_paused_changed", by=by)
        return new


async def notify_paused(conn: AsyncConnection, *, schedule: Schedule, text: str) -> None:
    """Tell the notification receivers, in the pausing transaction: nothing runs until a person
    looks, and the person who scheduled it may not be watching the chat."""
    await notify.enqueue(
        conn, event="schedule.paused", project_id=schedule.project_id,
        chat_id=schedule.chat_id, run_id=schedule.last_run_id, text=text,
    )  # fmt: skip


async def pause_schedules(
    conn: AsyncConnection, *, runbook: Runbook, reason_key: str, by: str
) -> int:
    """Pause every running schedule of ``runbook`` and say why in each one's chat."""
    count = 0
    for schedule in await repo.list_schedules(conn, runbook_id=runbook.id):
        if schedule.status == "paused":
            continue
        chat = await threads_repo.get_chat(conn, chat_id=schedule.chat_id)
        reason = t(chat.language, reason_key, name=runbook.name)
        await repo.set_schedule(
            conn, schedule_id=schedule.id, status="paused", paused_reason=reason
        )
        await threads_repo.append_message(
            conn, chat_id=schedule.chat_id, role="event", content=reason,
            meta={"kind": "schedule", "schedule_id": schedule.id, "event": "schedule.paused"},
        )  # fmt: skip
        await notify_paused(conn, schedule=schedule, text=reason)
        await append_audit(
            conn, actor=by, action="schedule.pause", project_id=schedule.project_id,
            chat_id=schedule.chat_id, plan_hash=runbook.plan_hash, outcome="paused",
        )  # fmt: skip
        count += 1
    return count


async def start(
    db: Database,
    registry: ServiceRegistry,
    *,
    runbook_id: str,
    chat_id: str,
    arguments: Mapping[str, Any],
    proposed_by: str,
    lang: str,
    ttl_s: int,
    proposed_for: Principal | None = None,
) -> PlanRun:
    """Propose the runbook's plan, its parameters filled, as the chat's draft: consent as usual."""
    async with db.write() as conn:
        runbook = await repo.get_runbook(conn, runbook_id=runbook_id)
        proposed = await propose_runbook(
            conn, registry, runbook=runbook, chat_id=chat_id, arguments=arguments,
            proposed_by=proposed_by, lang=lang, ttl_s=ttl_s, proposed_for=proposed_for,
        )  # fmt: skip
    return proposed.run


async def propose_runbook(
    conn: AsyncConnection,
    registry: ServiceRegistry,
    *,
    runbook: Runbook,
    chat_id: str,
    arguments: Mapping[str, Any],
    proposed_by: str,
    lang: str,
    ttl_s: int,
    proposed_for: Principal | None = None,
) -> Outcome:
    """``start`` in the caller's transaction (a schedule's firing commits it with its door)."""
    chat = await threads_repo.get_chat(conn, chat_id=chat_id)
    if chat.project_id != runbook.project_id:
        raise Invalid(t(lang, "runbook_other_project"), code="other_project")
    values = params.resolve_arguments(runbook.parameters, arguments, lang)
    steps = params.fill_steps(runbook.steps, values, lang=lang)
    return await plans_actions.propose(
        conn, registry, chat_id=chat_id, summary=_summary(runbook),
        steps_in=steps, proposed_by=proposed_by, lang=lang, ttl_s=ttl_s,
        proposed_for=proposed_for,
    )  # fmt: skip


def _summary(runbook: Runbook) -> str:
    return f"{runbook.name}: {runbook.summary}"[:300]


async def _named(conn: AsyncConnection, *, project_id: str, name: str, lang: str) -> Runbook:
    runbook = await repo.find_runbook(conn, project_id=project_id, name=name)
    if runbook is not None:
        return runbook
    known = [rb.name for rb in await repo.list_runbooks(conn, project_id=project_id)]
    # Another capitalisation is the same name when it names exactly one runbook.
    same = [n for n in known if n.casefold() == name.casefold()]
    if len(same) == 1:
        found = await repo.find_runbook(conn, project_id=project_id, name=same[0])
        if found is not None:
            return found
    if not known:
        raise DirectError(t(lang, "runbook_none_in_project"))
    raise DirectError(t(lang, "runbook_not_found_named", name=name[:100], known=", ".join(known)))


async def plan_for_chat(
    conn: AsyncConnection, *, project_id: str, name: str, arguments: dict[str, str], lang: str
) -> DirectPlan:
    """``/run NAME key=value …`` in a chat: the project's runbook, filled, as the plan to propose.

    The chat proposes it as any direct plan, so the policy, risk and approvals apply as they do
    to ``start``; every refusal is a DirectError whose message the chat shows.
    """
    runbook = await _named(conn, project_id=project_id, name=name, lang=lang)
    try:
        values = params.resolve_arguments(runbook.parameters, arguments, lang)
        steps = params.fill_steps(runbook.steps, values, lang=lang)
    except Invalid as exc:
        raise DirectError(
            t(lang, "runbook_not_proposed", name=runbook.name, reason=exc.message)
        ) from exc
    return DirectPlan(_summary(runbook), steps)


async def propose_for_alert(
    db: Database,
    registry: ServiceRegistry,
    *,
    project_id: str,
    chat_id: str,
    alertname: str,
    labels: Mapping[str, str],
    by: str,
    lang: str = "en",
    ttl_s: int = 24 * 3600,
) -> list[str]:
    """Propose, as drafts in the chat, every runbook of the project whose triggers name the alert.

    Parameters take the alert's label of the same name; a runbook that cannot be proposed
    (a label that is not a plain word, a step no longer allowed) is explained in the chat
    instead. A chat holds one pending draft, so with several runbooks the last one stays
    pending and the earlier ones are marked superseded, each still on record. Returns the run ids.
    """
    async with db.read() as conn:
        candidates = await repo.list_runbooks(conn, project_id=project_id)
    matching = [
        rb for rb in candidates if any(tr.get("alertname") == alertname for tr in rb.triggers)
    ]
    run_ids: list[str] = []
    for runbook in matching:
        given = {k: v for k, v in labels.items() if k in runbook.parameters}
        try:
            run = await start(
                db, registry, runbook_id=runbook.id, chat_id=chat_id, arguments=given,
                proposed_by=by, lang=lang, ttl_s=ttl_s,
            )  # fmt: skip
        except PilotoError as exc:
            log.warning("runbook %s not proposed for alert %s: %s", runbook.id, alertname, exc)
            async with db.write() as conn:
                await threads_repo.append_message(
                    conn, chat_id=chat_id, role="event",
                    content=t(lang, "runbook_not_proposed", name=runbook.name, reason=exc.message),
                )  # fmt: skip
            continue
        run_ids.append(run.id)
    return run_ids


async def delete(db: Database, *, runbook_id: str, by: str) -> None:
    """Delete a runbook and its schedules."""
    async with db.write() as conn:
        runbook = await repo.get_runbook(conn, runbook_id=runbook_id)
        await repo.delete_runbook(conn, runbook_id=runbook_id)
        await append_audit(
            conn, actor=by, action="runbook.delete", project_id=runbook.project_id,
            plan_hash=runbook.plan_hash, request_summary=runbook.name,
        )  # fmt: skip
