"""Runs and steps (``PlanRun`` / ``PlanStep``) and the one table of allowed transitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from piloto.threads.models import Message

RunStatus = Literal[
    "draft", "queued", "running", "cancelling", "done", "error",
    "cancelled", "superseded", "expired", "interrupted",
]  # fmt: skip
StepStatus = Literal["pending", "running", "done", "error", "skipped", "interrupted"]
# A person's answer for a step whose outcome is unknown (not the policy's ``Decision``).
InterruptedChoice = Literal["retry", "skip", "abort"]

# The state machine of DESIGN.md. Every change of status is one conditional UPDATE that
# names the status it expects; a change not listed here is refused before any SQL runs.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"queued", "cancelled", "superseded", "expired"}),
    "queued": frozenset({"running", "cancelled"}),
    "running": frozenset({"done", "error", "cancelling", "cancelled", "interrupted"}),
    "cancelling": frozenset({"cancelled", "done", "error"}),
    # A person decides: retry or skip the step (back to the queue) or abort.
    "interrupted": frozenset({"queued", "cancelled"}),
}
FINAL: frozenset[str] = frozenset({"done", "error", "cancelled", "superseded", "expired"})
ACTIVE: frozenset[str] = frozenset({"queued", "running", "cancelling", "interrupted"})


def allowed(frm: str, to: str) -> bool:
    """Whether the state machine allows ``frm → to``."""
    return to in TRANSITIONS.get(frm, frozenset())


class PlanStep(BaseModel):
    id: str
    idx: int
    service: str
    operation: str
    arguments: dict[str, Any]
    risk: str
    status: StepStatus
    attempts: int
    idempotency_key: str
    request_summary: str | None = None
    response: Any = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: int | None = None
    risk_reason: str | None = None
    warnings: list[str] = []


class Approval(BaseModel):
    """One person's approval of a run (the two-person rule)."""

    by: str
    at: float


class PlanRun(BaseModel):
    id: str
    chat_id: str
    project_id: str
    status: RunStatus
    summary: str
    plan_json: str
    plan_hash: str
    proposed_by: str
    confirmed_by: str | None = None
    confirmed_at: float | None = None
    approved_by_policy: bool = False
    cancelled_by: str | None = None
    supersedes_run_id: str | None = None
    error: str | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    created_at: float
    updated_at: float
    expires_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    proposed_for: str | None = None
    proposed_for_name: str | None = None
    risk: str | None = None
    approvals_required: int | None = None
    corrects: dict[str, Any] | None = None
    approvals: list[Approval] = []
    steps: list[PlanStep] = []

    def public(self) -> dict[str, Any]:
        """The API shape."""
        # proposed_for is a token id: who it is for is shown by name only.
        return self.model_dump(
            exclude={"plan_json", "lease_owner", "lease_expires_at", "proposed_for"}
        )


class ChatState(BaseModel):
    """A chat's run pointers: the plan awaiting consent, the one running, the last one."""

    chat_id: str
    pending_run_id: str | None = None
    active_run_id: str | None = None
    last_run_id: str | None = None
    last_run_status: str | None = None
    last_run_at: float | None = None


@dataclass
class Outcome:
    """What a consent action wrote: the run as it now stands and the chat lines it appended.

    Returned by propose, confirm, cancel and the interrupted-step decision, so a caller
    answers with them instead of reading back what the action just wrote.
    """

    run: PlanRun
    messages: list[Message] = field(default_factory=list)
