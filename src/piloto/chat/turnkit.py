"""What every part of a chat turn shares: its dependencies, its result, and how it speaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from piloto.chat.direct import RunbookPlanner
from piloto.llm import ChatModel
from piloto.plans.models import PlanRun
from piloto.services.registry import ServiceRegistry
from piloto.settings import Settings
from piloto.store.db import Database
from piloto.threads import repo
from piloto.threads.models import Message, Role


@dataclass
class ChatDeps:
    """What a turn needs; built once in the app's lifespan."""

    db: Database
    registry: ServiceRegistry
    settings: Settings
    model: ChatModel | None
    # Builds ``/run NAME …``'s plan from a runbook (set by the app: runbooks sits above chat).
    plan_runbook: RunbookPlanner | None = None


@dataclass
class TurnResult:
    message: Message
    replies: list[Message] = field(default_factory=list)
    run: PlanRun | None = None

    def public(self) -> dict[str, Any]:
        """The API shape of ``POST /api/send``."""
        return {
            "message": self.message.model_dump(),
            "reply": self.replies[-1].model_dump() if self.replies else None,
            "replies": [m.model_dump() for m in self.replies],
            "run": self.run.public() if self.run else None,
        }


async def say(
    deps: ChatDeps,
    chat_id: str,
    content: str,
    *,
    role: Role = "assistant",
    run_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Message:
    """Store one message in its own transaction (one unit of work)."""
    return await deps.db.write_unit(
        lambda conn: repo.append_message_sync(
            conn, chat_id=chat_id, role=role, content=content, run_id=run_id, meta=meta
        )
    )
