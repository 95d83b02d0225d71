"""Runbook and schedule shapes: what the API takes and what it answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from piloto.runbooks.params import NAME

ScheduleStatus = Literal["active", "paused", "pending_approval"]


class Parameter(BaseModel):
    description: str = Field(default="", max_length=500)
    default: str | int | float | bool | None = None


class Trigger(BaseModel):
    alertname: str = Field(min_length=1, max_length=200)


class StepIn(BaseModel):
    service: str = Field(min_length=1, max_length=64)
    operation: str = Field(min_length=1, max_length=300)
    arguments: dict[str, Any] = Field(default_factory=dict)


class RunbookIn(BaseModel):
    project_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=100)
    summary: str | None = Field(default=None, min_length=1, max_length=300)
    steps: list[StepIn] | None = Field(default=None, min_length=1, max_length=200)
    parameters: dict[str, Parameter] = Field(default_factory=dict, max_length=50)
    triggers: list[Trigger] = Field(default_factory=list, max_length=50)
    from_run_id: str | None = Field(default=None, max_length=32)

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        bad = [n for n in value if not NAME.match(n)]
        if bad:
            raise ValueError(f"parameter names must be identifiers: {', '.join(bad[:5])}")
        return value


class RunbookPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    summary: str | None = Field(default=None, min_length=1, max_length=300)
    steps: list[StepIn] | None = Field(default=None, min_length=1, max_length=200)
    parameters: dict[str, Parameter] | None = Field(default=None, max_length=50)
    triggers: list[Trigger] | None = Field(default=None, max_length=50)

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: dict[str, Parameter] | None) -> dict[str, Parameter] | None:
        return RunbookIn._names(value) if value is not None else None


class StartIn(BaseModel):
    chat_id: str = Field(min_length=1, max_length=32)
    arguments: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=50)


class Runbook(BaseModel):
    id: str
    project_id: str
    name: str
    summary: str
    steps: list[dict[str, Any]]
    parameters: dict[str, dict[str, Any]]
    triggers: list[dict[str, Any]]
    plan_hash: str
    created_by: str
    created_at: float
    updated_at: float


class ScheduleIn(BaseModel):
    runbook_id: str = Field(min_length=1, max_length=32)
    chat_id: str = Field(min_length=1, max_length=32)
    cron: str = Field(min_length=1, max_length=100)
    arguments: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=50)
    timezone: str = Field(default="UTC", min_length=1, max_length=64)


class SchedulePatch(BaseModel):
    enabled: bool


class Schedule(BaseModel):
    id: str
    runbook_id: str
    project_id: str
    chat_id: str
    cron: str
    timezone: str
    arguments: dict[str, Any]
    runbook_hash: str
    risk: str
    approvals_required: int
    status: ScheduleStatus
    paused_reason: str | None
    next_run_at: float | None
    last_run_id: str | None
    last_fired_at: float | None
    created_by: str
    created_at: float
    updated_at: float
    approved_by: list[str] = Field(default_factory=list)
