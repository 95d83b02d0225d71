"""What the runner's parts share: the database, the registry, the model, who we are."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from piloto.llm import ChatModel
from piloto.services.registry import ServiceRegistry
from piloto.settings import Settings
from piloto.store.db import Database


@dataclass(frozen=True)
class RunnerDeps:
    db: Database
    registry: ServiceRegistry
    settings: Settings
    model: ChatModel | None
    owner: str
    lease_s: float
    retry_base_s: float
    cancel_poll_s: float = 0.5
    # Set by Runner.stop(): runs stop at their next safe point (never in the middle of a commit).
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    # Told each run's id as it ends (the copilot loop's follow-up); must return at once.
    on_run_end: Callable[[str], None] | None = None

    @property
    def actor(self) -> str:
        """Who the audit log names for the runner's own decisions."""
        return f"runner:{self.owner}"
