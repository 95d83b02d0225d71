"""Chats, their messages (a per-chat ``seq`` that only grows) and chat state."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.chat.models import Chat, ChatState, Message, Role
from piloto.errors import Invalid, NotFound
from piloto.projects.repo import get_project
from piloto.store.eventlog import append_event
from piloto.store.ids import new_id, now
from piloto.store.schema import chat_state, chats, messages, plan_calls, runs

MESSAGES_PAGE_MAX = 200


def _chat(r: Any) -> Chat:
    return Chat(
        id=r.id,
        project_id=r.project_id,
        title=r.title,
        language=r.language,
        model=r.model,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _clean_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise Invalid("A chat needs a title.")
    return cleaned


async def create_chat(
    conn: AsyncConnection, *, project_id: str, title: str, language: str | None = None
) -> Chat:
    """Create a chat (and its state row) in a project."""
    await get_project(conn, project_id=project_id)
    t = now()
    cid = new_id()
    title = _clean_title(title)
    await conn.execute(
        insert(chats).values(
            id=cid,
            project_id=project_id,
            title=title,
            language=language,
            created_at=t,
            updated_at=t,
        )
    )
    await conn.execute(insert(chat_state).values(chat_id=cid, next_seq=0))
    return Chat(
        id=cid, project_id=project_id, title=title, language=language, created_at=t, updated_at=t
    )


async def get_chat(conn: AsyncConnection, *, chat_id: str) -> Chat:
    """One chat, or 404."""
    row = (await conn.execute(select(chats).where(chats.c.id == chat_id))).first()
    if row is None:
        raise NotFound("No such chat. It may have been deleted.")
    return _chat(row)


async def list_chats(conn: AsyncConnection, *, project_id: str) -> list[Chat]:
    """A project's chats, newest first."""
    await get_project(conn, project_id=project_id)
    rows = await conn.execute(
        select(chats)
        .where(chats.c.project_id == project_id)
        .order_by(chats.c.created_at.desc(), chats.c.id.desc())
    )
    return [_chat(r) for r in rows]


async def update_chat(
    conn: AsyncConnection,
    *,
    chat_id: str,
    title: str | None = None,
    language: str | None = None,
    model: str | None = None,
) -> Chat:
    """Rename a chat, set its language, or choose its model."""
    chat = await get_chat(conn, chat_id=chat_id)
    values: dict[str, Any] = {"updated_at": now()}
    if title is not None:
        values["title"] = _clean_title(title)
    if language is not None:
        values["language"] = language
    if model is not None:
        values["model"] = model.strip() or None
    await conn.execute(update(chats).where(chats.c.id == chat_id).values(**values))
    return chat.model_copy(update=values)


async def delete_chat(conn: AsyncConnection, *, chat_id: str) -> None:
    """Delete a chat with its messages and runs."""
    await get_chat(conn, chat_id=chat_id)
    await conn.execute(delete(chats).where(chats.c.id == chat_id))


async def append_message(
    conn: AsyncConnection,
    *,
    chat_id: str,
    role: Role,
    content: str,
    run_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Message:
    """Store a message with the chat's next ``seq`` and log an event for live clients."""
    seq = (
        await conn.execute(
            update(chat_state)
            .where(chat_state.c.chat_id == chat_id)
            .values(next_seq=chat_state.c.next_seq + 1)
            .returning(chat_state.c.next_seq)
        )
    ).scalar()
    if seq is None:
        raise NotFound("No such chat. It may have been deleted.")
    msg = Message(
        id=new_id(),
        chat_id=chat_id,
        seq=int(seq),
        role=role,
        content=content,
        run_id=run_id,
        meta=meta,
        created_at=now(),
    )
    await conn.execute(
        insert(messages).values(
            id=msg.id,
            chat_id=chat_id,
            seq=msg.seq,
            role=role,
            content=content,
            run_id=run_id,
            meta_json=json.dumps(meta) if meta is not None else None,
            created_at=msg.created_at,
        )
    )
    await append_event(conn, chat_id=chat_id, type="message", data=msg.model_dump())
    return msg


def _message(r: Any) -> Message:
    return Message(
        id=r.id, chat_id=r.chat_id, seq=r.seq, role=r.role, content=r.content, run_id=r.run_id,
        meta=json.loads(r.meta_json) if r.meta_json else None, created_at=r.created_at,
    )  # fmt: skip


async def list_messages(
    conn: AsyncConnection, *, chat_id: str, after: int = 0, limit: int = 100
) -> list[Message]:
    """Messages with ``seq`` greater than ``after``, in order, at most ``limit`` (≤ 200)."""
    await get_chat(conn, chat_id=chat_id)
    limit = max(1, min(limit, MESSAGES_PAGE_MAX))
    rows = await conn.execute(
        select(messages)
        .where(messages.c.chat_id == chat_id, messages.c.seq > after)
        .order_by(messages.c.seq)
        .limit(limit)
    )
    return [_message(r) for r in rows]


async def all_messages(conn: AsyncConnection, *, chat_id: str) -> list[Message]:
    """Every message of a chat, in order (exports)."""
    rows = await conn.execute(
        select(messages).where(messages.c.chat_id == chat_id).order_by(messages.c.seq)
    )
    return [_message(r) for r in rows]


async def recent_messages(conn: AsyncConnection, *, chat_id: str, limit: int) -> list[Message]:
    """The newest ``limit`` messages, returned oldest first (for the model's history)."""
    rows = await conn.execute(
        select(messages)
        .where(messages.c.chat_id == chat_id)
        .order_by(messages.c.seq.desc())
        .limit(limit)
    )
    return [_message(r) for r in reversed(rows.all())]


async def get_state(conn: AsyncConnection, *, chat_id: str) -> ChatState:
    """The chat's pending/active/last run pointers."""
    row = (await conn.execute(select(chat_state).where(chat_state.c.chat_id == chat_id))).first()
    if row is None:
        raise NotFound("No such chat. It may have been deleted.")
    return ChatState(
        chat_id=chat_id, pending_run_id=row.pending_run_id, active_run_id=row.active_run_id,
        last_run_id=row.last_run_id, last_run_status=row.last_run_status, last_run_at=row.last_run_at,
    )  # fmt: skip


class PlanCall(BaseModel):
    """Where a plan came from: the model's tool call(s) or a person's slash command."""

    run_id: str
    chat_id: str
    kind: Literal["model", "direct"]
    calls: list[dict[str, str]]
    origin_seq: int
    auto_turn: int
    followup: str


async def add_plan_call(
    conn: AsyncConnection,
    *,
    run_id: str,
    chat_id: str,
    kind: Literal["model", "direct"],
    calls: list[dict[str, str]],
    origin_seq: int,
    auto_turn: int,
) -> None:
    """Record the tool call(s) a plan answers; its follow-up turn is then pending."""
    await conn.execute(
        insert(plan_calls).values(
            run_id=run_id, chat_id=chat_id, kind=kind, calls_json=json.dumps(calls),
            origin_seq=origin_seq, auto_turn=auto_turn, followup="pending", created_at=now(),
        )
    )  # fmt: skip


def _plan_call(r: Any) -> PlanCall:
    return PlanCall(
        run_id=r.run_id, chat_id=r.chat_id, kind=r.kind, calls=json.loads(r.calls_json),
        origin_seq=r.origin_seq, auto_turn=r.auto_turn, followup=r.followup,
    )  # fmt: skip


async def plan_calls_of(conn: AsyncConnection, *, chat_id: str) -> dict[str, PlanCall]:
    """Every recorded plan call of a chat, by run id."""
    rows = await conn.execute(select(plan_calls).where(plan_calls.c.chat_id == chat_id))
    return {r.run_id: _plan_call(r) for r in rows}


async def get_plan_call(conn: AsyncConnection, *, run_id: str) -> PlanCall | None:
    """The plan call of one run, if it has one."""
    row = (await conn.execute(select(plan_calls).where(plan_calls.c.run_id == run_id))).first()
    return _plan_call(row) if row is not None else None


async def claim_followup(conn: AsyncConnection, *, run_id: str) -> bool:
    """Compare-and-set pending → claimed: exactly one instance answers a run's end."""
    result = await conn.execute(
        update(plan_calls)
        .where(plan_calls.c.run_id == run_id, plan_calls.c.followup == "pending")
        .values(followup="claimed")
    )
    return bool(result.rowcount)


async def release_followup(conn: AsyncConnection, *, run_id: str) -> None:
    """claimed → pending: an interrupted run may still end again (retried), and earn its turn."""
    await conn.execute(
        update(plan_calls)
        .where(plan_calls.c.run_id == run_id, plan_calls.c.followup == "claimed")
        .values(followup="pending")
    )


async def unanswered_runs(conn: AsyncConnection, *, since: float) -> list[str]:
    """Runs that ran and ended after ``since`` whose follow-up was never started (a restart)."""
    rows = await conn.execute(
        select(plan_calls.c.run_id)
        .join(runs, runs.c.id == plan_calls.c.run_id)
        .where(
            plan_calls.c.followup == "pending",
            runs.c.status.in_(("done", "error", "cancelled")),
            runs.c.started_at.is_not(None),
            runs.c.finished_at >= since,
        )
        .order_by(runs.c.finished_at)
    )
    return [r.run_id for r in rows]
