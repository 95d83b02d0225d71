"""Notifications about runs: which status is worth telling, in the chat's language."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.i18n import t
from piloto.notify.repo import enqueue, enqueue_sync
from piloto.store import unit
from piloto.store.schema import chats, runs

# A run's new status → the event people subscribe to.
RUN_EVENTS: dict[str, str] = {
    "done": "run.done",
    "error": "run.failed",
    "interrupted": "run.interrupted",
}
SUMMARY_MAX = 300


async def notify_run(conn: AsyncConnection, *, run_id: str, status: str) -> None:
    """Enqueue the event for a run that just became ``status`` (nothing for other states)."""
    event = RUN_EVENTS.get(status)
    if event is not None:
        await _enqueue(conn, run_id=run_id, event=event)


def notify_run_sync(conn: Connection, *, run_id: str, status: str) -> None:
    """``notify_run`` inside a unit of work (``Database.write_unit``)."""
    event = RUN_EVENTS.get(status)
    if event is None:
        return
    row = unit.one(conn, _RUN_AND_CHAT, {"id": run_id})
    if row is None:
        return
    chat_id, project_id, summary, error, title, language = row
    enqueue_sync(
        conn, event=event, project_id=project_id, chat_id=chat_id, run_id=run_id,
        text=_text(event, summary, error, title, language),
    )  # fmt: skip


_RUN_AND_CHAT = (
    "SELECT r.chat_id, r.project_id, r.summary, r.error, c.title, c.language "
    "FROM runs r JOIN chats c ON c.id = r.chat_id WHERE r.id = :id"
)


def _text(
    event: str, summary: str | None, error: str | None, title: str, language: str | None
) -> str:
    key = "notify_" + event.replace(".", "_")
    text = t(language, key, summary=(summary or "")[:SUMMARY_MAX], chat=title[:SUMMARY_MAX])
    if event == "run.failed" and error:
        text += "\n" + str(error)[:SUMMARY_MAX]
    return text


async def notify_waiting(conn: AsyncConnection, *, run_id: str) -> None:
    """Enqueue ``plan.awaiting_approval`` for a draft left for a person to confirm."""
    await _enqueue(conn, run_id=run_id, event="plan.awaiting_approval")


async def _enqueue(conn: AsyncConnection, *, run_id: str, event: str) -> None:
    row = (
        await conn.execute(
            select(
                runs.c.chat_id,
                runs.c.project_id,
                runs.c.summary,
                runs.c.error,
                chats.c.title,
                chats.c.language,
            )
            .join(chats, chats.c.id == runs.c.chat_id)
            .where(runs.c.id == run_id)
        )
    ).first()
    if row is None:
        return
    text = _text(event, row.summary, row.error, row.title, row.language)
    await enqueue(
        conn, event=event, project_id=row.project_id, chat_id=row.chat_id, run_id=run_id, text=text
    )
