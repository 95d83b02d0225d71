"""Import the ``mcpServers`` JSON of Claude Desktop, Cursor and others into the registry.

Each entry is registered as an MCP service on its own: one that fails (a command that does
not exist, a refused address, a bad shape) is reported and never stops the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from piloto.errors import PilotoError
from piloto.i18n import t
from piloto.services.records import ServiceIn
from piloto.services.registry import ServiceRegistry

MAX_ENTRIES = 100
REASON_MAX = 500


class ImportIn(BaseModel):
    """``{"project_id": …, "config": {"mcpServers": {name: entry}}}``."""

    project_id: str | None = Field(default=None, max_length=64)
    config: dict[str, Any]
    allow_offline: bool = False


class ImportOutcome(BaseModel):
    """What became of one entry."""

    name: str
    service: str | None = None
    status: Literal["registered", "failed", "skipped"]
    reason: str | None = None
    service_id: str | None = None
    operations: int = 0


def service_name(name: str) -> str:
    """A registry name from a config's key: "GitHub Server" → "github-server"."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower()).strip("-_")
    return cleaned[:64]


def _strings(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def entry_to_service(
    name: str, entry: Any, *, project_id: str | None, allow_offline: bool, lang: str
) -> ServiceIn:
    """One ``mcpServers`` entry as a registration; ValueError says what is wrong with it."""
    if not isinstance(entry, Mapping):
        raise ValueError(t(lang, "import_not_object"))
    command, url = entry.get("command"), entry.get("url") or entry.get("serverUrl")
    fields: dict[str, Any] = {
        "name": service_name(name), "kind": "mcp", "project_id": project_id,
        "allow_offline": allow_offline,
    }  # fmt: skip
    if command is not None:
        args = entry.get("args", [])
        if not isinstance(command, str) or not command.strip():
            raise ValueError(t(lang, "import_bad_field", field="command"))
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(t(lang, "import_bad_field", field="args"))
        if entry.get("env") is not None and not _strings(entry["env"]):
            raise ValueError(t(lang, "import_bad_field", field="env"))
        fields.update(command=[command, *args], env=dict(entry.get("env") or {}) or None)
    elif url is not None:
        if not isinstance(url, str):
            raise ValueError(t(lang, "import_bad_field", field="url"))
        if entry.get("headers") is not None and not _strings(entry["headers"]):
            raise ValueError(t(lang, "import_bad_field", field="headers"))
        fields.update(url=url, headers=dict(entry.get("headers") or {}) or None)
    else:
        raise ValueError(t(lang, "import_no_transport"))
    try:
        return ServiceIn(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise ValueError(problems) from None


def servers_of(config: Mapping[str, Any], lang: str) -> Mapping[str, Any]:
    """The ``mcpServers`` object (or a bare one, as some tools write it); ValueError if none."""
    servers = config.get("mcpServers", config.get("servers"))
    if not isinstance(servers, Mapping) or not servers:
        raise ValueError(t(lang, "import_no_servers"))
    if len(servers) > MAX_ENTRIES:
        raise ValueError(t(lang, "import_too_many", most=MAX_ENTRIES))
    return servers


async def import_mcp_config(
    registry: ServiceRegistry,
    *,
    config: Mapping[str, Any],
    project_id: str | None,
    actor: str,
    allow_offline: bool = False,
    lang: str = "en",
) -> list[ImportOutcome]:
    """Register every entry, one after another (each may start a process); report each."""
    outcomes: list[ImportOutcome] = []
    for name, entry in servers_of(config, lang).items():
        if isinstance(entry, Mapping) and entry.get("disabled") is True:
            outcomes.append(
                ImportOutcome(name=name, status="skipped", reason=t(lang, "import_disabled"))
            )
            continue
        try:
            data = entry_to_service(
                name, entry, project_id=project_id, allow_offline=allow_offline, lang=lang
            )
        except ValueError as exc:
            outcomes.append(ImportOutcome(name=name, status="failed", reason=str(exc)[:REASON_MAX]))
            continue
        try:
            svc = await registry.register(data, actor=actor)
        except PilotoError as exc:
            outcomes.append(
                ImportOutcome(
                    name=name, service=data.name, status="failed", reason=exc.message[:REASON_MAX]
                )
            )
            continue
        outcomes.append(
            ImportOutcome(
                name=name, service=svc.name, status="registered", service_id=svc.id,
                operations=svc.operation_count,
                reason=svc.last_error if svc.status != "online" else None,
            )
        )  # fmt: skip
    return outcomes
