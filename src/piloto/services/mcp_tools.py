"""MCP tools as operations (pure): risk from annotations, the command field of shell tools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mcp_types as types

from piloto.policy.models import Risk
from piloto.services.models import OperationSpec


def tool_to_operation(tool: types.Tool) -> OperationSpec:
    """An MCP tool as an operation: method "TOOL", path = the tool's name."""
    hints = tool.annotations
    read_only = bool(hints and hints.read_only_hint)
    risk: Risk = "read" if read_only else "write"
    if not read_only and hints and hints.destructive_hint:
        risk = "destructive"
    schema = dict(tool.input_schema or {})
    required = schema.get("required")
    command_field = mcp_command_field(tool.name, tool.description or "", schema)
    if command_field is not None and risk == "read":
        risk = "write"  # the command policy decides per command; a hint cannot make it read
    return OperationSpec(
        operation_id=tool.name,
        method="TOOL",
        path=tool.name,
        summary=(tool.title or tool.description or "").strip().split("\n")[0][:300],
        body_schema=schema,
        body_required=bool(required),
        body_media_type="application/json",
        risk=risk,
        idempotent=(read_only or bool(hints and hints.idempotent_hint)) and command_field is None,
        command_field=command_field,
    )


_COMMAND_PROPS = ("command", "cmd", "script", "shell")
_COMMAND_WORDS = ("shell", "command", "exec", "run", "bash", "terminal")


def mcp_command_field(name: str, description: str, schema: Mapping[str, Any]) -> str | None:
    """The string argument of a tool that runs shell commands, or None.

    A string property named command/cmd/script/shell, on a tool whose name or description
    speaks of shells, commands, exec or run: that value goes through the command policy.
    """
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return None
    words = f"{name} {description}".lower()
    if not any(w in words for w in _COMMAND_WORDS):
        return None
    for prop in _COMMAND_PROPS:
        spec = props.get(prop)
        if isinstance(spec, Mapping) and spec.get("type") in ("string", None):
            return prop
    return None
