"""Registry shapes: what an admin registers and what the API shows (never credentials)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from piloto.policy.models import Risk
from piloto.services.models import OperationSpec

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
Status = Literal["online", "offline", "error"]


class ServiceIn(BaseModel):
    """A registration request."""

    name: str = Field(min_length=1, max_length=64)
    kind: Literal["openapi", "mcp"]
    project_id: str | None = Field(default=None, max_length=64)
    base_url: str | None = Field(default=None, max_length=2000)
    doc_url: str | None = Field(default=None, max_length=2000)
    document: str | None = Field(
        default=None,
        max_length=32 * 1024 * 1024,
        description="An uploaded OpenAPI document (JSON or YAML)",
    )
    command: list[str] | None = Field(
        default=None, max_length=64, description="MCP over stdio: program and arguments"
    )
    env: dict[str, str] | None = Field(
        default=None, description="MCP over stdio: environment (kept encrypted)"
    )
    url: str | None = Field(default=None, max_length=2000, description="MCP over streamable HTTP")
    headers: dict[str, str] | None = Field(
        default=None, description="Credentials sent as headers (kept encrypted)"
    )
    bearer_token: str | None = Field(default=None, max_length=4000)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    allow_offline: bool = False
    honours_idempotency: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip().lower()
        if not NAME_RE.match(value):
            raise ValueError(
                "use lower-case letters, digits, '-' or '_' (start with a letter or digit)"
            )
        return value


class Service(BaseModel):
    """A registered service as the API shows it."""

    id: str
    name: str
    kind: Literal["openapi", "mcp"]
    project_id: str | None
    base_url: str | None
    doc_url: str | None
    command: list[str] | None
    url: str | None
    has_credentials: bool
    timeout_s: float
    allow_offline: bool
    enabled: bool
    honours_idempotency: bool
    status: Status
    last_error: str | None
    last_checked_at: float | None
    title: str | None
    created_at: float
    operation_count: int = 0


class ServicePatch(BaseModel):
    enabled: bool | None = None
    allow_offline: bool | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=600)
    honours_idempotency: bool | None = None


class Operation(BaseModel):
    """One entry of the allowlist."""

    operation: str
    method: str
    path: str
    summary: str
    risk: Risk
    risk_override: Risk | None
    enabled: bool
    spec: OperationSpec | None = None

    def public(self) -> dict[str, Any]:
        """The API shape (without the full schema)."""
        return self.model_dump(exclude={"spec"})


class OperationPatch(BaseModel):
    enabled: bool | None = None
    risk: Risk | None = None
