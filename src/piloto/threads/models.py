"""Chat and message shapes: the conversation record."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TITLE_MAX = 200
TEXT_MAX = 20_000
MODEL_MAX = 200
Role = Literal["user", "assistant", "system", "event", "tool"]


class Chat(BaseModel):
    id: str
    project_id: str
    title: str
    language: str | None = None
    model: str | None = None
    created_at: float
    updated_at: float


class ChatIn(BaseModel):
    project_id: str = Field(min_length=1, max_length=64)
    title: str = Field(default="New chat", min_length=1, max_length=TITLE_MAX)
    language: Literal["en", "es"] | None = None


class ChatPatch(BaseModel):
    # A misspelt field would otherwise be ignored and the change silently not made.
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    language: Literal["en", "es"] | None = None
    model: str | None = Field(default=None, min_length=1, max_length=MODEL_MAX)


class Message(BaseModel):
    id: str
    chat_id: str
    seq: int
    role: Role
    content: str
    run_id: str | None = None
    meta: dict[str, Any] | None = None
    created_at: float
