"""``POST /api/send``: one turn of the conversation, honouring ``Idempotency-Key``."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from piloto.auth.deps import Operator
from piloto.chat.service import ChatDeps, send
from piloto.deps import DB, IdempotencyKey, idempotent_json
from piloto.errors import Invalid
from piloto.threads.models import TEXT_MAX

router = APIRouter(prefix="/api", tags=["chats"])


class SendIn(BaseModel):
    chat_id: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=TEXT_MAX)


@router.post("/send")
async def send_message(
    body: SendIn, request: Request, db: DB, principal: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:  # fmt: skip
    """Store the message, then answer it: consent, a direct command, or the model."""
    deps = cast(ChatDeps, request.app.state.chat)
    if not body.text.strip():
        raise Invalid("The message is empty.")

    async def handler() -> dict[str, Any]:
        return (
            await send(deps, chat_id=body.chat_id, text=body.text, principal=principal)
        ).public()

    return await idempotent_json(
        db, scope=f"{principal.token_id}:send", key=idempotency_key, body=body.model_dump(),
        handler=handler,
    )  # fmt: skip
