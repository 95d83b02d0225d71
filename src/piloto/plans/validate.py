"""Check a proposed plan against the allowlist, the argument schemas and the command policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.errors import Invalid
from piloto.i18n import MESSAGES, t
from piloto.policy import CommandLimits, check_command
from piloto.policy.chars import hidden_characters, lookalikes
from piloto.policy.texts import risk_reason
from piloto.projects.models import ProjectSettings
from piloto.services.arguments import schema_problems
from piloto.services.models import OperationSpec
from piloto.services.registry import Resolved, ServiceRegistry


@dataclass(frozen=True)
class CheckedStep:
    service: str
    operation: str
    arguments: dict[str, Any]
    risk: str
    is_command: bool
    idempotent: bool
    kind: str
    # Why the step has its risk, in words the card shows ("kills processes (kill -9)").
    risk_reason: str = ""
    # Non-ASCII characters that pass for ASCII, named with where they are; the card flags them.
    warnings: tuple[str, ...] = ()


class PlanInvalid(Invalid):
    """The plan cannot be proposed; ``problems`` lists each step's reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems), code="plan_invalid", problems=problems)
        self.problems = problems


def is_command_operation(spec: OperationSpec) -> bool:
    """An operation with a command field (the toolbox's ``cmd``, an MCP tool's ``command``)."""
    return spec.command_field is not None


def command_limits(settings: ProjectSettings) -> CommandLimits:
    """The project's command policy knobs."""
    allow = frozenset(settings.command_allowlist) if settings.command_allowlist else None
    return CommandLimits(allowlist=allow, max_length=settings.max_command_length)


COMMAND_FIELDS = ("cmd", "command", "script", "shell")


def command_of(arguments: Mapping[str, Any], field: str | None = None) -> str | None:
    """The shell command in a step's arguments: the operation's command field (``cmd`` or
    ``body.cmd``); without a field, the first of the names command fields use."""
    body = arguments.get("body")
    for name in (field,) if field else COMMAND_FIELDS:
        cmd = arguments.get(name)
        if cmd is None and isinstance(body, Mapping):
            cmd = body.get(name)
        if cmd is not None:
            return cmd if isinstance(cmd, str) else None
    return None


def strings_in(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in a JSON value, keys included, with where it is (``body.items[2]``)."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found.append((path or "value", value))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            found.append((f"{where} (name)", str(k)))
            found.extend(strings_in(v, where))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found.extend(strings_in(v, f"{path}[{i}]"))
    return found


def hidden_in(arguments: Mapping[str, Any]) -> list[str]:
    """Bidi controls and invisible characters anywhere in the arguments, with where they are."""
    return [
        f"`{where}` holds {', '.join(chars[:3])}"
        for where, text in strings_in(arguments)
        if (chars := hidden_characters(text))
    ]


def lookalikes_in(arguments: Mapping[str, Any]) -> tuple[str, ...]:
    """Look-alike characters anywhere in the arguments, with where they are."""
    return tuple(
        f"`{where}`: {', '.join(chars[:3])}"
        for where, text in strings_in(arguments)
        if (chars := lookalikes(text))
    )


def invalid_text(exc: Invalid, lang: str) -> str:
    """The registry's reason in ``lang`` where it gave a code the table knows, else as it came."""
    key = f"resolve_{exc.code}"
    return t(lang, key, **exc.extra) if key in MESSAGES else exc.message


def operation_reason(resolved: Resolved, lang: str) -> str:
    """Why an HTTP operation or MCP tool has its risk, for the card."""
    op = resolved.operation
    where = f"{op.method} {op.path}" if op.method != "TOOL" else f"tool {op.path}"
    if op.risk_override:
        return t(lang, "op_risk_override", where=where)
    return t(lang, f"op_risk_{op.risk}", where=where)


def mcp_argument_problems(spec: OperationSpec, arguments: Mapping[str, Any]) -> list[str]:
    """An MCP tool's arguments against its input schema, as the call itself will check them."""
    schema = spec.body_schema or {}
    problems = schema_problems("", schema, dict(arguments))
    known = schema.get("properties")
    if isinstance(known, Mapping) and schema.get("additionalProperties") in (None, False):
        problems += [f"unknown argument `{k}`" for k in arguments if k not in known]
    return problems


async def check_plan(
    conn: AsyncConnection,
    registry: ServiceRegistry,
    *,
    project_id: str,
    settings: ProjectSettings,
    steps: Sequence[Mapping[str, Any]],
    lang: str = "en",
) -> list[CheckedStep]:
    """Every step resolved and checked, or PlanInvalid naming what is wrong with each."""
    if not steps:
        raise PlanInvalid([t(lang, "plan_no_steps")])
    if len(steps) > settings.max_steps:
        raise PlanInvalid([t(lang, "plan_too_many_steps", n=len(steps), limit=settings.max_steps)])
    problems: list[str] = []
    checked: list[CheckedStep] = []
    limits = command_limits(settings)
    for n, step in enumerate(steps, start=1):
        service, operation = str(step.get("service", "")), str(step.get("operation", ""))
        arguments = dict(step.get("arguments") or {})
        # A card must show what runs: text that renders other than it reads is refused, in
        # any argument at any depth, not only in commands.
        hidden = hidden_in(arguments)
        if hidden:
            where = "; ".join(hidden[:3])
            problems.append(
                t(lang, "plan_step_problem", n=n, problem=t(lang, "plan_hidden_chars", where=where))
            )
            continue
        try:
            resolved = await registry.resolve(
                conn, project_id=project_id, service=service, operation=operation
            )
            registry.check_arguments(resolved, arguments)
        except Invalid as exc:
            problems.append(t(lang, "plan_step_problem", n=n, problem=invalid_text(exc, lang)))
            continue
        spec = resolved.spec
        if resolved.service.kind == "mcp":
            mcp_problems = mcp_argument_problems(spec, arguments)
            if mcp_problems:
                problems.append(t(lang, "plan_step_problem", n=n, problem="; ".join(mcp_problems)))
                continue
        is_cmd = is_command_operation(spec)
        risk = resolved.operation.risk
        reason = operation_reason(resolved, lang)
        if is_cmd:
            cmd = command_of(arguments, spec.command_field) or ""
            decision = check_command(cmd, limits)
            if not decision.allowed:
                problems.append(t(lang, "plan_step_problem", n=n, problem=decision.reason))
                continue
            risk = decision.risk
            reason = (
                risk_reason(decision.risk_code, lang, decision.risk_detail)
                if decision.risk_code
                else decision.risk_reason
            )
        checked.append(
            CheckedStep(
                service=resolved.service.name,
                operation=resolved.operation.operation,
                arguments=arguments,
                risk=risk,
                is_command=is_cmd,
                idempotent=spec.idempotent,
                kind=resolved.service.kind,
                risk_reason=reason,
                warnings=lookalikes_in(arguments),
            )
        )
    if problems:
        raise PlanInvalid(problems)
    return checked
