"""Direct mode: ``/cmd``, ``/call`` and ``/run`` propose plans without any model; ``/help``
lists them."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.i18n import t
from piloto.plans.validate import is_command_operation
from piloto.services import repo as services_repo


@dataclass(frozen=True)
class DirectPlan:
    summary: str
    steps: list[dict[str, Any]]


class DirectError(ValueError):
    """A direct command that cannot become a plan; the message is for the person."""


class RunbookPlanner(Protocol):
    """Turns ``/run NAME key=value …`` into a runbook's filled plan (``runbooks`` sits above chat,
    so the app hands its function down); raises DirectError with the reason it cannot."""

    async def __call__(
        self,
        conn: AsyncConnection,
        *,
        project_id: str,
        name: str,
        arguments: dict[str, str],
        lang: str,
    ) -> DirectPlan: ...


def parse_run(rest: str, lang: str) -> tuple[str, dict[str, str]]:
    """The runbook name and ``key=value`` arguments of ``/run``, quoted as in a shell."""
    try:
        words = shlex.split(rest)
    except ValueError as exc:  # an unclosed quote
        raise DirectError(t(lang, "runbook_run_usage")) from exc
    if not words:
        raise DirectError(t(lang, "runbook_run_usage"))
    arguments: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise DirectError(t(lang, "runbook_run_usage"))
        if key in arguments:
            # Which one a person meant is a guess; a plan is never built on a guess.
            raise DirectError(t(lang, "runbook_argument_twice", name=key[:64]))
        arguments[key] = value
    return words[0], arguments


def is_direct(text: str) -> bool:
    """Whether a message is a slash command."""
    return text.lstrip().startswith("/")


async def parse_direct(
    conn: AsyncConnection,
    *,
    project_id: str,
    text: str,
    lang: str = "en",
    runbooks: RunbookPlanner | None = None,
) -> DirectPlan | None:
    """The plan a slash command asks for; None for ``/help``. Errors are in ``lang``."""
    stripped = text.strip()
    head, _, rest = stripped.partition(" ")
    head = head.lower()
    rest = rest.strip()
    if head == "/help":
        return None
    if head == "/run":
        name, arguments = parse_run(rest, lang)
        if runbooks is None:
            raise DirectError(t(lang, "runbooks_unavailable"))
        return await runbooks(
            conn, project_id=project_id, name=name, arguments=arguments, lang=lang
        )
    if head == "/cmd":
        service, _, command = rest.partition(" ")
        command = command.strip()
        if not service or not command:
            raise DirectError(t(lang, "cmd_usage"))
        row = await services_repo.find_service(conn, project_id=project_id, name=service)
        if row is None:
            raise DirectError(t(lang, "unknown_service", service=service))
        ops = await services_repo.list_operations(conn, service_id=row.service.id, with_spec=True)
        op = next((o for o in ops if o.spec is not None and is_command_operation(o.spec)), None)
        if op is None:
            raise DirectError(t(lang, "no_command_operation", service=service))
        return DirectPlan(
            t(lang, "direct_cmd_summary", cmd=command, service=row.service.name),
            [
                {
                    "service": row.service.name,
                    "operation": op.operation,
                    "arguments": {"cmd": command},
                }
            ],
        )
    if head == "/call":
        parts = rest.split(None, 2)
        if len(parts) < 2:
            raise DirectError(t(lang, "call_usage"))
        service, operation = parts[0], parts[1]
        raw = parts[2] if len(parts) > 2 else "{}"
        if operation.upper() in {
            "GET",
            "POST",
            "PUT",
            "PATCH",
            "DELETE",
            "HEAD",
            "OPTIONS",
        } and raw.startswith("/"):
            path, _, raw = raw.partition(" ")
            operation = f"{operation.upper()} {path}"
            raw = raw.strip() or "{}"
        try:
            arguments = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DirectError(
                t(lang, "call_args_not_json", error=exc.msg, column=exc.colno)
            ) from exc
        if not isinstance(arguments, dict):
            raise DirectError(t(lang, "call_args_not_object"))
        return DirectPlan(
            t(lang, "direct_call_summary", operation=operation, service=service),
            [{"service": service, "operation": operation, "arguments": arguments}],
        )
    raise DirectError(t(lang, "unknown_command", command=shlex.quote(head)))
