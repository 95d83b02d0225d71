"""Chat routes: chats, messages, and the live event stream."""

from __future__ import annotations

from typing import Any, Literal, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from piloto.auth.deps import Operator, Viewer
from piloto.chat.export import export_chat, to_markdown
from piloto.deps import DB
from piloto.llm import ModelError, OpenAIChatClient
from piloto.plans import repo as plans_repo
from piloto.plans.models import ChatState
from piloto.store.eventlog import last_event_id
from piloto.threads import repo
from piloto.threads.models import Chat, ChatIn, ChatPatch, Message

router = APIRouter(prefix="/api", tags=["chats"])


@router.post("/chats", status_code=201)
async def create_chat(body: ChatIn, db: DB, _: Operator) -> Chat:
    """Create a chat in a project."""
    async with db.write() as conn:
        return await repo.create_chat(
            conn, project_id=body.project_id, title=body.title, language=body.language
        )


@router.get("/projects/{project_id}/chats")
async def list_chats(project_id: str, db: DB, _: Viewer) -> list[Chat]:
    """A project's chats, newest first."""
    async with db.read() as conn:
        return await repo.list_chats(conn, project_id=project_id)


@router.get("/chats/{chat_id}")
async def get_chat(chat_id: str, db: DB, _: Viewer) -> dict[str, object]:
    """A chat with its state (pending and active runs)."""
    async with db.read() as conn:
        chat = await repo.get_chat(conn, chat_id=chat_id)
        state = await plans_repo.get_chat_state(conn, chat_id=chat_id)
        last = await last_event_id(conn, chat_id=chat_id)
    return {**chat.model_dump(), "state": state.model_dump(), "last_event_id": last}


@router.patch("/chats/{chat_id}")
async def update_chat(chat_id: str, body: ChatPatch, db: DB, _: Operator) -> Chat:
    """Rename a chat, change its language, or choose the model its turns use."""
    async with db.write() as conn:
        return await repo.update_chat(
            conn, chat_id=chat_id, title=body.title, language=body.language, model=body.model
        )


@router.delete("/chats/{chat_id}")
async def delete_chat(chat_id: str, db: DB, _: Operator) -> dict[str, bool]:
    """Delete a chat with its messages and runs."""
    async with db.write() as conn:
        await repo.delete_chat(conn, chat_id=chat_id)
    return {"ok": True}


@router.get("/chats/{chat_id}/messages")
async def list_messages(
    chat_id: str,
    db: DB,
    _: Viewer,
    after: int = Query(default=0, ge=0, le=2**62),
    limit: int = Query(default=100, ge=1, le=repo.MESSAGES_PAGE_MAX),
) -> list[Message]:
    """Messages after ``seq`` ``after``, oldest first."""
    async with db.read() as conn:
        return await repo.list_messages(conn, chat_id=chat_id, after=after, limit=limit)


@router.get("/chats/{chat_id}/state")
async def chat_state(chat_id: str, db: DB, _: Viewer) -> ChatState:
    """The chat's pending, active and last run."""
    async with db.read() as conn:
        return await plans_repo.get_chat_state(conn, chat_id=chat_id)


@router.get("/chats/{chat_id}/export", response_model=None)
async def export(
    chat_id: str, db: DB, _: Viewer, format: Literal["json", "md"] = "json"
) -> dict[str, Any] | PlainTextResponse:
    """The chat as JSON (messages, runs with steps, results, plan hashes) or as Markdown."""
    async with db.read() as conn:
        data = await export_chat(conn, chat_id=chat_id)
    if format == "json":
        return data
    title = data["chat"]["title"]
    safe = "".join(c if c.isascii() and c.isalnum() else "-" for c in title)[:60] or "chat"
    return PlainTextResponse(
        to_markdown(data),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}.md"'},
    )


@router.get("/models", tags=["models"])
async def list_models(request: Request, _: Viewer) -> dict[str, Any]:
    """The configured endpoint's models (cached), the default, and whether it answered."""
    model = request.app.state.chat.model
    if model is None:
        return {"default": None, "models": [], "error": None}
    client = cast(OpenAIChatClient, model)
    try:
        ids = await client.list_models()
    except ModelError as exc:
        lang = request.app.state.settings.language
        return {"default": client.name, "models": [client.name], "error": exc.message(lang)}
    return {"default": client.name, "models": ids or [client.name], "error": None}
