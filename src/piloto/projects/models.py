"""Project shapes and per-project settings."""

from __future__ import annotations

from pydantic import BaseModel, Field

NAME_MAX = 100


class ProjectSettings(BaseModel):
    """Per-project policy; every field has a safe default."""

    auto_approve_reads: bool = False
    command_allowlist: list[str] | None = Field(default=None, max_length=500)
    max_command_length: int = Field(default=4096, ge=16, le=65536)
    max_steps: int = Field(default=20, ge=1, le=200)
    max_run_s: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    retry_attempts: int = Field(default=3, ge=1, le=10)


class Project(BaseModel):
    id: str
    name: str
    settings: ProjectSettings
    created_at: float
    updated_at: float


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    settings: ProjectSettings | None = None


class ProjectPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    settings: ProjectSettings | None = None
