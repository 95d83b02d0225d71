"""What one run's execution carries from step to step, and how a step or a run ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.engine import Connection

from piloto.plans.models import PlanRun
from piloto.projects.models import ProjectSettings
from piloto.runner.deps import RunnerDeps
from piloto.runner.watch import RunWatch

RunEnd = Literal["done", "error", "cancelled", "interrupted"]
# A step's end not yet committed: it rides with the next write (``record.end_step``); given
# the run's new ``updated_at``, it returns the run's status as its lease renewal found it.
PendingEnd = Callable[[Connection, float], str]


@dataclass
class Correction:
    """A reasoner's correction that needs a new confirmation: the steps and what it corrects."""

    steps: list[dict[str, Any]]
    corrects: dict[str, Any]
    step_n: int


@dataclass
class Outcome:
    """How the run ended, and a correction that needs a new confirmation, if any."""

    status: RunEnd = "done"
    step_n: int | None = None
    error: str | None = None
    new_draft: Correction | None = None
    # The closing line for a person when the generic one is not enough (an unknown outcome).
    note: str | None = None


@dataclass
class StepFailed(Exception):
    """The step ended in error (or, with ``interrupted``, with an unknown outcome): the run stops here."""

    reason: str
    new_draft: Correction | None = None
    interrupted: bool = False
    note: str | None = None


@dataclass
class RunCtx:
    deps: RunnerDeps
    run: PlanRun
    lang: str
    settings: ProjectSettings
    watch: RunWatch
    results: dict[int, Any] = field(default_factory=dict)
    # (service, operation) → its resolution, once per run (each step re-checks the allowlist).
    resolved: dict[tuple[str, str], Any] = field(default_factory=dict)
    pending: PendingEnd | None = None
