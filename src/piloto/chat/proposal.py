"""A plan becomes a draft: stored by ``plans`` with the tool call it answers, in one commit."""

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
from piloto.plans import actions as plans

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
    """Store a plan as the chat's draft with the call it answers (one commit), and reply."""
    async with deps.db.write() as conn:
        outcome = await plans.propose(
            conn, deps.registry, chat_id=chat_id, summary=summary, steps_in=steps,
            proposed_by=proposed_by, lang=lang, ttl_s=deps.settings.plan_ttl, preface=preface,
            proposed_for=proposed_for,
        )  # fmt: skip
        # In the proposal's commit: an auto-approved run cannot end before its call is known.
        await calls_repo.add_plan_call(
            conn, run_id=outcome.run.id, chat_id=chat_id,
            kind="model" if kind == "model" else "direct",
            calls=[
                {"id": _call_id(c.id), "name": TOOL_NAME, "arguments": _canonical(c.arguments)}
                for c in calls
            ],
            origin_seq=result.message.seq if origin_seq is None else origin_seq,
            auto_turn=auto_turn,
        )  # fmt: skip
    result.run = outcome.run
    # The model's own words (if any), the proposal and an auto-approval, as written.
    result.replies.extend(outcome.messages)


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
