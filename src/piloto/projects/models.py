"""Project shapes and per-project settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from piloto.policy.models import RISK_ORDER, Risk

NAME_MAX = 100

RISKS: tuple[Risk, ...] = tuple(RISK_ORDER)
MAX_APPROVALS = 10


class ProjectSettings(BaseModel):
    """Per-project policy; every field has a safe default."""

    auto_approve_reads: bool = False
    command_allowlist: list[str] | None = Field(default=None, max_length=500)
    max_command_length: int = Field(default=4096, ge=16, le=65536)
    max_steps: int = Field(default=20, ge=1, le=200)
    max_run_s: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    retry_attempts: int = Field(default=3, ge=1, le=10)
    # How many different people must confirm a plan of at least this risk, e.g.
    # {"destructive": 2}; a riskier plan never needs fewer people than a less risky one.
    required_approvals: dict[Risk, int] = Field(default_factory=dict)
    # Webhook URLs this project's notifications also go to (beside PILOTO_NOTIFY_URLS).
    notify_urls: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("notify_urls")
    @classmethod
    def _notify_http(cls, value: list[str]) -> list[str]:
        # Only http(s); the URL is not echoed, its path is often the webhook's secret.
        for index, url in enumerate(value, 1):
            if len(url) > 2000 or not url.lower().startswith(("http://", "https://")):
                raise ValueError(f"notify_urls #{index} must be an http(s) URL")
        return value

    def approvals_for(self, risk: str) -> int:
        """How many different people must confirm a plan of ``risk``."""
        rank = RISKS.index(risk) if risk in RISKS else RISKS.index("write")
        return max([1] + [n for r, n in self.required_approvals.items() if RISKS.index(r) <= rank])


# Policy: who may run what, and with whose consent. Only an admin sets these, on create as on
# update; an operator may still create and rename projects.
ADMIN_ONLY: frozenset[str] = frozenset(ProjectSettings.model_fields)


class Project(BaseModel):
    id: str
    name: str
    settings: ProjectSettings
    created_at: float
    updated_at: float


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    # A plain object so unknown keys and admin-only keys get their own clear answers.
    settings: dict[str, Any] | None = None


class ProjectPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    # Merged into the current settings: only the keys given change.
    settings: dict[str, Any] | None = None
