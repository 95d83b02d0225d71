"""Notifications about runs: which status is worth telling, in the chat's language."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.i18n import t
from piloto.notify.repo import enqueue
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
    summary = (row.summary or "")[:SUMMARY_MAX]
    key = "notify_" + event.replace(".", "_")
    text = t(row.language, key, summary=summary, chat=row.title[:SUMMARY_MAX])
    if event == "run.failed" and row.error:
        text += "\n" + str(row.error)[:SUMMARY_MAX]
    await enqueue(
        conn, event=event, project_id=row.project_id, chat_id=row.chat_id, run_id=run_id, text=text
    )
