"""Data shapes of the services layer: parsed specs, operations, invocation results.

All models are JSON-serialisable (``model_dump(mode="json")``) because the registry stores
them in the database as JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from piloto.policy.models import Risk

ParamLocation = Literal["path", "query", "header", "cookie"]


class ParamSpec(BaseModel):
    """One parameter of an operation, with its JSON schema ($refs resolved)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    name: str
    location: ParamLocation
    required: bool
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    description: str = ""


class OperationSpec(BaseModel):
    """One callable operation: an OpenAPI operation, or an MCP tool (method "TOOL")."""

    operation_id: str
    method: str
    path: str
    summary: str = ""
    parameters: list[ParamSpec] = Field(default_factory=list)
    body_schema: dict[str, Any] | None = None
    body_required: bool = False
    # "application/json" or "application/x-www-form-urlencoded"; None when there is no body.
    body_media_type: str | None = None
    risk: Risk
    idempotent: bool
    # The argument (a body property) that carries a shell command: every value there passes
    # the command policy, which decides the step's risk (invariant 4).
    command_field: str | None = None


class ParsedSpec(BaseModel):
    """An OpenAPI document reduced to what Piloto needs to call it."""

    title: str
    version: str
    spec_version: str
    server_url: str | None
    operations: list[OperationSpec]


class InvokeResult(BaseModel):
    """The outcome of one call, as shown to a person and stored with the run step."""

    ok: bool
    status_code: int | None
    body: Any
    truncated: bool = False
    bytes: int = 0
    duration_ms: int = 0
    error: str | None = None
