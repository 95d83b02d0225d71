"""Chats and their messages, with a per-chat ``seq`` that only grows: the conversation record."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.errors import Invalid, NotFound
from piloto.projects.repo import get_project
from piloto.store import unit
from piloto.store.eventlog import append_event, append_event_sync
from piloto.store.ids import new_id, now
from piloto.store.schema import chat_state, chats, messages
from piloto.threads.models import Chat, Message, Role

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


_GET_CHAT = (
    "SELECT id, project_id, title, language, model, created_at, updated_at FROM chats "
    "WHERE id = :chat"
)


def get_chat_sync(conn: Connection, *, chat_id: str) -> Chat:
    """``get_chat`` inside a unit of work (``Database.write_unit``)."""
    row = unit.one(conn, _GET_CHAT, {"chat": chat_id})
    if row is None:
        raise NotFound("No such chat. It may have been deleted.")
    return Chat(**dict(zip(Chat.model_fields, row, strict=True)))


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


_NEXT_SEQ = "UPDATE chat_state SET next_seq = next_seq + 1 WHERE chat_id = :chat RETURNING next_seq"
_INSERT_MESSAGE = (
    "INSERT INTO messages (id, chat_id, seq, role, content, run_id, meta_json, created_at) "
    "VALUES (:id, :chat, :seq, :role, :content, :run, :meta, :at)"
)


def append_message_sync(
    conn: Connection,
    *,
    chat_id: str,
    role: Role,
    content: str,
    run_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Message:
    """``append_message`` inside a unit of work (``Database.write_unit``): three statements."""
    row = unit.one(conn, _NEXT_SEQ, {"chat": chat_id})
    if row is None:
        raise NotFound("No such chat. It may have been deleted.")
    data: dict[str, Any] = {
        "id": new_id(), "chat_id": chat_id, "seq": int(row[0]), "role": role,
        "content": content, "run_id": run_id, "meta": meta, "created_at": now(),
    }  # fmt: skip
    meta_json = json.dumps(meta) if meta is not None else None
    unit.run(conn, _INSERT_MESSAGE, {
        "id": data["id"], "chat": chat_id, "seq": data["seq"], "role": role, "content": content,
        "run": run_id, "meta": meta_json, "at": data["created_at"],
    })  # fmt: skip
    # The event carries what model_dump() would: the fields above, already plain JSON.
    append_event_sync(conn, chat_id=chat_id, type="message", data_json=json.dumps(data))
    return Message.model_validate(data)


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


_PAGE = (
    "SELECT id, chat_id, seq, role, content, run_id, meta_json, created_at FROM messages "
    "WHERE chat_id = :chat AND seq > :after ORDER BY seq LIMIT :limit"
)
_FIELDS = ("id", "chat_id", "seq", "role", "content", "run_id", "meta", "created_at")


def list_messages_sync(
    conn: Connection, *, chat_id: str, after: int = 0, limit: int = 100
) -> list[Message]:
    """``list_messages`` for ``Database.read_unit``: one page in one hop."""
    if unit.one(conn, "SELECT 1 FROM chats WHERE id = :chat", {"chat": chat_id}) is None:
        raise NotFound("No such chat. It may have been deleted.")
    limit = max(1, min(limit, MESSAGES_PAGE_MAX))
    rows = unit.fetch_all(conn, _PAGE, {"chat": chat_id, "after": after, "limit": limit})
    out = []
    for r in rows:
        values = list(r)
        values[6] = json.loads(values[6]) if values[6] else None
        out.append(Message.model_validate(dict(zip(_FIELDS, values, strict=True))))
    return out


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
