"""Run routes: read, confirm (by hash), cancel, edit a draft, decide on an interrupted step."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from piloto.auth.deps import Operator, Viewer
from piloto.deps import DB, AppSettings, IdempotencyKey, idempotent_json
from piloto.plans import repo, service
from piloto.plans.models import InterruptedChoice
from piloto.services.deps import Registry
from piloto.threads import repo as threads_repo

router = APIRouter(prefix="/api", tags=["runs"])


class ConfirmIn(BaseModel):
    plan_hash: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")


class StepEdit(BaseModel):
    service: str = Field(min_length=1, max_length=64)
    operation: str = Field(min_length=1, max_length=300)
    arguments: dict[str, Any] = Field(default_factory=dict)


class EditIn(BaseModel):
    steps: list[StepEdit] = Field(min_length=1, max_length=200)
    summary: str | None = Field(default=None, min_length=1, max_length=300)


class InterruptedChoiceIn(BaseModel):
    decision: InterruptedChoice  # the wire name stays `decision`


async def _lang(db: DB, chat_id: str, default: str) -> str:
    async with db.read() as conn:
        chat = await threads_repo.get_chat(conn, chat_id=chat_id)
    return chat.language or default


async def _run_lang(db: DB, run_id: str, default: str) -> str:
    """The language of the chat a run belongs to (404 for no such run), in one snapshot."""
    async with db.read() as conn:
        run = await repo.get_run(conn, run_id=run_id, with_steps=False)
        chat = await threads_repo.get_chat(conn, chat_id=run.chat_id)
    return chat.language or default


@router.get("/runs/{run_id}")
async def get_run(run_id: str, db: DB, _: Viewer) -> dict[str, Any]:
    """A run with its steps."""
    async with db.read() as conn:
        return (await repo.get_run(conn, run_id=run_id)).public()


@router.get("/chats/{chat_id}/runs")
async def list_runs(chat_id: str, db: DB, _: Viewer) -> list[dict[str, Any]]:
    """A chat's runs, newest first."""
    async with db.read() as conn:
        await threads_repo.get_chat(conn, chat_id=chat_id)
        return [r.public() for r in await repo.list_runs(conn, chat_id=chat_id)]


@router.post("/runs/{run_id}/confirm")
async def confirm_run(
    run_id: str, body: ConfirmIn, db: DB, settings: AppSettings, principal: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:  # fmt: skip
    """Confirm the draft whose hash you reviewed; 409 when it is not a draft or the hash differs."""

    async def handler() -> dict[str, Any]:
        lang = await _run_lang(db, run_id, settings.language)
        confirmed = await service.confirm(
            db, run_id=run_id, plan_hash_=body.plan_hash, principal=principal, lang=lang
        )
        return confirmed.run.public()

    return await idempotent_json(
        db, scope=f"{principal.token_id}:confirm:{run_id}", key=idempotency_key,
        body=body.model_dump(), handler=handler,
    )  # fmt: skip


@router.post("/runs/{run_id}/cancel")
async def cancel_run(
    run_id: str, db: DB, settings: AppSettings, principal: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:  # fmt: skip
    """Cancel a draft or queued run; a running one stops before its next step."""

    async def handler() -> dict[str, Any]:
        lang = await _run_lang(db, run_id, settings.language)
        cancelled = await service.cancel(db, run_id=run_id, principal=principal, lang=lang)
        return cancelled.run.public()

    return await idempotent_json(
        db, scope=f"{principal.token_id}:cancel:{run_id}", key=idempotency_key, body={},
        handler=handler,
    )  # fmt: skip


@router.post("/runs/{run_id}/edit", status_code=201)
async def edit_run(
    run_id: str,
    body: EditIn,
    db: DB,
    registry: Registry,
    settings: AppSettings,
    principal: Operator,
) -> dict[str, Any]:
    """Propose an edited copy of a draft (new hash); the old draft is superseded."""
    run, _ = await service.draft_steps(db, run_id=run_id)
    lang = await _lang(db, run.chat_id, settings.language)
    new = await service.propose(
        db, registry, chat_id=run.chat_id, summary=body.summary or run.summary,
        steps_in=[s.model_dump() for s in body.steps], proposed_by=f"{principal.name} (edit)",
        lang=lang, ttl_s=settings.plan_ttl, proposed_for=principal,
    )  # fmt: skip
    return new.run.public()


@router.post("/runs/{run_id}/decision")
async def decide(
    run_id: str, body: InterruptedChoiceIn, db: DB, settings: AppSettings, principal: Operator
) -> dict[str, Any]:
    """For an interrupted run: retry the step, skip it, or abort the run."""
    lang = await _run_lang(db, run_id, settings.language)
    decided = await service.decide_interrupted(
        db, run_id=run_id, choice=body.decision, principal=principal, lang=lang
    )
    return decided.run.public()
