"""One turn of the conversation (``/api/send``): store, decide, maybe ask the model, reply.

The user's message is committed before anything else happens (invariant 5). Consent is
decided here by deterministic code, never by the model (invariant 1).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Connection

from piloto.auth.tokens import Principal
from piloto.chat.context import catalogue_for as _catalogue_for
from piloto.chat.direct import DirectError, is_direct, parse_direct
from piloto.chat.modelturn import model_turn as _model_turn
from piloto.chat.prompt import CatalogueEntry
from piloto.chat.proposal import propose as _propose
from piloto.chat.turnkit import ChatDeps as ChatDeps
from piloto.chat.turnkit import TurnResult as TurnResult
from piloto.chat.turnkit import say
from piloto.errors import Forbidden, PilotoError
from piloto.i18n import t
from piloto.plans import repo as plans_repo
from piloto.plans import service as plans
from piloto.plans.consent import Intent, detect_intent
from piloto.plans.models import ChatState, Outcome, PlanRun
from piloto.plans.service import Refused
from piloto.plans.validate import PlanInvalid
from piloto.threads import repo
from piloto.threads.models import Chat, Message

log = logging.getLogger("piloto.chat")


async def send(deps: ChatDeps, *, chat_id: str, text: str, principal: Principal) -> TurnResult:
    """Handle one message from a person."""
    if not principal.can("operator"):
        # Checked before the chat is read, so the server's language (PILOTO_LANGUAGE) speaks.
        sl = deps.settings.language
        have, need = t(sl, f"role_{principal.role}"), t(sl, "role_operator")
        raise Forbidden(t(sl, "needs_role", role=need, have=have))

    def persist(conn: Connection) -> tuple[Chat, Message, ChatState]:
        # One unit of work (one hop to the writer on SQLite). The state is read in the
        # writer's transaction: as fresh as a later snapshot, one transaction less.
        chat = repo.get_chat_sync(conn, chat_id=chat_id)
        user_msg = repo.append_message_sync(
            conn, chat_id=chat_id, role="user", content=text, meta={"by": principal.name}
        )
        return chat, user_msg, plans_repo.get_chat_state_sync(conn, chat_id=chat_id)

    chat, user_msg, state = await deps.db.write_unit(persist)
    lang = chat.language or deps.settings.language
    result = TurnResult(user_msg)
    intent = Intent.OTHER if is_direct(text) else detect_intent(text)

    if intent in (Intent.CONFIRM, Intent.CANCEL, Intent.AMBIGUOUS):
        handled = await _consent(
            deps,
            result,
            chat_id=chat_id,
            intent=intent,
            state=state,
            principal=principal,
            lang=lang,
        )
        if handled:
            return result
    if is_direct(text):
        await _direct(
            deps,
            result,
            chat_id=chat_id,
            project_id=chat.project_id,
            text=text,
            principal=principal,
            lang=lang,
        )
        return result
    if deps.model is None:
        result.replies.append(await say(deps, chat_id, t(lang, "direct_mode"), role="event"))
        return result
    await _model_turn(
        deps,
        result,
        chat_id=chat_id,
        project_id=chat.project_id,
        principal=principal,
        lang=lang,
        query=text,
    )
    return result


async def _consent(
    deps: ChatDeps,
    result: TurnResult,
    *,
    chat_id: str,
    intent: Intent,
    state: Any,
    principal: Principal,
    lang: str,
) -> bool:
    """Answer a yes / no / unclear message; False when the message should go to the model."""
    if state.pending_run_id is None:
        if intent is Intent.CANCEL and state.active_run_id:
            run = await _guarded(
                deps,
                result,
                chat_id,
                lambda: plans.cancel(
                    deps.db, run_id=state.active_run_id, principal=principal, lang=lang
                ),
            )
            result.run = run
            return True
        if intent is Intent.CONFIRM and state.active_run_id:
            async with deps.db.read() as conn:
                active = await plans_repo.get_run(
                    conn, run_id=state.active_run_id, with_steps=False
                )
            result.replies.append(
                await say(
                    deps, chat_id, t(lang, "already_running", status=active.status), role="event"
                )
            )
            return True
        if intent in (Intent.CONFIRM, Intent.CANCEL):
            result.replies.append(
                await say(deps, chat_id, t(lang, "no_plan_pending"), role="event")
            )
            return True
        return False
    async with deps.db.read() as conn:
        pending = await plans_repo.get_run(conn, run_id=state.pending_run_id, with_steps=False)
    if intent is Intent.CONFIRM and pending.proposed_for != principal.token_id:
        # A typed "yes" confirms only what was proposed in answer to this person; anyone else
        # reviews the card and confirms its hash there.
        name = pending.proposed_for_name or t(lang, "someone_else")
        text = t(lang, "proposed_for_other", name=name)
        meta = {"kind": "proposed_for_other"}
        result.replies.append(
            await say(deps, chat_id, text, role="event", run_id=pending.id, meta=meta)
        )
        return True
    if intent is Intent.CONFIRM:
        result.run = await _guarded(
            deps,
            result,
            chat_id,
            lambda: plans.confirm(
                deps.db,
                run_id=pending.id,
                plan_hash_=pending.plan_hash,
                principal=principal,
                lang=lang,
            ),
        )
    elif intent is Intent.CANCEL:
        result.run = await _guarded(
            deps,
            result,
            chat_id,
            lambda: plans.cancel(deps.db, run_id=pending.id, principal=principal, lang=lang),
        )
    else:
        result.replies.append(await say(deps, chat_id, t(lang, "ambiguous"), role="event"))
    return True


async def _guarded(deps: ChatDeps, result: TurnResult, chat_id: str, action: Any) -> PlanRun | None:
    """Run a consent action and reply with the lines it wrote; a refusal becomes a chat line."""
    try:
        outcome: Outcome = await action()
    except Refused as exc:
        # The refusal wrote its own line (the draft expired): that line is the reply.
        result.replies.extend(exc.outcome.messages)
        return None
    except PilotoError as exc:
        result.replies.append(await say(deps, chat_id, exc.message, role="event"))
        return None
    # The action's own lines, whatever other turns wrote in the chat meanwhile.
    result.replies.extend(outcome.messages)
    return outcome.run


async def _direct(
    deps: ChatDeps,
    result: TurnResult,
    *,
    chat_id: str,
    project_id: str,
    text: str,
    principal: Principal,
    lang: str,
) -> None:
    try:
        async with deps.db.read() as conn:
            plan = await parse_direct(
                conn, project_id=project_id, text=text, lang=lang, runbooks=deps.plan_runbook
            )
    except DirectError as exc:
        result.replies.append(await say(deps, chat_id, str(exc), role="event"))
        return
    if plan is None:
        result.replies.append(await say(deps, chat_id, t(lang, "help")))
        return
    try:
        await _propose(
            deps,
            result,
            chat_id=chat_id,
            summary=plan.summary,
            steps=plan.steps,
            proposed_by=principal.name,
            proposed_for=principal,
            lang=lang,
        )
    except PlanInvalid as exc:
        result.replies.append(
            await say(deps, chat_id, t(lang, "invalid_plan", reason=exc.message), role="event")
        )


async def catalogue_for(deps: ChatDeps, project_id: str) -> list[CatalogueEntry]:
    """Every enabled operation of every enabled, online service visible from a project."""
    return await _catalogue_for(deps.db, project_id)
