"""A plan becomes a draft: stored by ``plans``, remembered with the tool call it answers."""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Sequence
from typing import Any

from piloto.auth.tokens import Principal
from piloto.chat import calls as calls_repo
from piloto.chat.toolcall import TOOL_NAME, ToolCallError, parse_arguments
from piloto.chat.turnkit import ChatDeps, TurnResult
from piloto.llm import ToolCall
from piloto.plans import repo as plans_repo
from piloto.plans import service as plans
from piloto.plans.models import PlanRun
from piloto.threads import repo

# Ends a follow-up turn answers; "interrupted" waits for a person, who may retry it.
ENDED = frozenset({"done", "error", "cancelled", "interrupted"})


async def propose(
    deps: ChatDeps,
    result: TurnResult,
    *,
    chat_id: str,
    summary: str,
    steps: list[dict[str, Any]],
    proposed_by: str,
    lang: str,
    preface: str | None = None,
    proposed_for: Principal | None = None,
    kind: str = "direct",
    calls: Sequence[ToolCall] = (),
    origin_seq: int | None = None,
    auto_turn: int = 0,
) -> None:
    """Store a plan as the chat's draft, remember the call it answers, collect the replies."""
    run = await plans.propose(
        deps.db,
        deps.registry,
        chat_id=chat_id,
        summary=summary,
        steps_in=steps,
        proposed_by=proposed_by,
        lang=lang,
        ttl_s=deps.settings.plan_ttl,
        preface=preface,
        proposed_for=proposed_for,
    )
    result.run = run
    await _record_call(deps, run, kind=kind, calls=calls, auto_turn=auto_turn,
                       origin_seq=result.message.seq if origin_seq is None else origin_seq)  # fmt: skip
    async with deps.db.read() as conn:
        msgs = await repo.recent_messages(conn, chat_id=chat_id, limit=50)
    # The model's own words (if any) and the proposal, both stored in the proposal's transaction.
    result.replies.extend(
        m
        for m in msgs
        if m.seq > result.message.seq
        and (m.run_id == run.id or (m.meta or {}).get("preface_of") == run.id)
    )


async def _record_call(
    deps: ChatDeps,
    run: PlanRun,
    *,
    kind: str,
    calls: Sequence[ToolCall],
    origin_seq: int,
    auto_turn: int,
) -> None:
    """Remember the tool call(s) a plan answers, so its end can be answered in kind."""
    recorded = [
        {"id": _call_id(c.id), "name": TOOL_NAME, "arguments": _canonical(c.arguments)}
        for c in calls
    ]
    async with deps.db.write() as conn:
        await calls_repo.add_plan_call(
            conn, run_id=run.id, chat_id=run.chat_id, kind="model" if kind == "model" else "direct",
            calls=recorded, origin_seq=origin_seq, auto_turn=auto_turn,
        )  # fmt: skip
        now_run = await plans_repo.get_run(conn, run_id=run.id, with_steps=False)
    if now_run.status in ENDED and deps.schedule_followup is not None:
        # An auto-approved plan can end before this record exists; its end found none.
        deps.schedule_followup(run.id)


def _call_id(given: str) -> str:
    """The call's id for the history: the model's own, unless it may repeat in this chat.

    Text calls and servers that number calls ("call_0") reuse ids from turn to turn; fresh
    ones are 9 letters and digits, the only shape Mistral's templates accept.
    """
    if len(given) >= 9 and given.isascii() and not re.fullmatch(r"call_(text_)?\d+", given):
        return given
    return "".join(secrets.choice(_ID_CHARS) for _ in range(9))


_ID_CHARS = string.ascii_letters + string.digits


def _canonical(raw: str) -> str:
    """The arguments as clean JSON for the history (they were parsed leniently)."""
    try:
        return json.dumps(parse_arguments(raw), ensure_ascii=False)
    except ToolCallError:
        return raw
