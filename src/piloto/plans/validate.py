"""Check a proposed plan against the allowlist, the argument schemas and the command policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.errors import Invalid
from piloto.policy import CommandLimits, check_command
from piloto.projects.models import ProjectSettings
from piloto.services.models import OperationSpec
from piloto.services.registry import ServiceRegistry


@dataclass(frozen=True)
class CheckedStep:
    service: str
    operation: str
    arguments: dict[str, Any]
    risk: str
    is_command: bool
    idempotent: bool
    kind: str


class PlanInvalid(Invalid):
    """The plan cannot be proposed; ``problems`` lists each step's reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems), code="plan_invalid", problems=problems)
        self.problems = problems


def is_command_operation(spec: OperationSpec) -> bool:
    """A toolbox-style ``/command`` operation whose body carries ``cmd``."""
    props = (spec.body_schema or {}).get("properties") or {}
    return spec.path.rstrip("/").endswith("/command") and "cmd" in props


def command_limits(settings: ProjectSettings) -> CommandLimits:
    """The project's command policy knobs."""
    allow = frozenset(settings.command_allowlist) if settings.command_allowlist else None
    return CommandLimits(allowlist=allow, max_length=settings.max_command_length)


def command_of(arguments: Mapping[str, Any]) -> str | None:
    """The shell command in a step's arguments (``cmd`` or ``body.cmd``)."""
    cmd = arguments.get("cmd")
    if cmd is None and isinstance(arguments.get("body"), Mapping):
        cmd = arguments["body"].get("cmd")
    return cmd if isinstance(cmd, str) else None


async def check_plan(
    conn: AsyncConnection,
    registry: ServiceRegistry,
    *,
    project_id: str,
    settings: ProjectSettings,
    steps: Sequence[Mapping[str, Any]],
) -> list[CheckedStep]:
    """Every step resolved and checked, or PlanInvalid naming what is wrong with each."""
    if not steps:
        raise PlanInvalid(["the plan has no steps"])
    if len(steps) > settings.max_steps:
        raise PlanInvalid(
            [f"the plan has {len(steps)} steps; this project allows at most {settings.max_steps}"]
        )
    problems: list[str] = []
    checked: list[CheckedStep] = []
    limits = command_limits(settings)
    for n, step in enumerate(steps, start=1):
        service, operation = str(step.get("service", "")), str(step.get("operation", ""))
        arguments = dict(step.get("arguments") or {})
        try:
            resolved = await registry.resolve(
                conn, project_id=project_id, service=service, operation=operation
            )
            registry.check_arguments(resolved, arguments)
        except Invalid as exc:
            problems.append(f"step {n}: {exc.message}")
            continue
        spec = resolved.spec
        is_cmd = is_command_operation(spec)
        risk = resolved.operation.risk
        if is_cmd:
            cmd = command_of(arguments) or ""
            decision = check_command(cmd, limits)
            if not decision.allowed:
                problems.append(f"step {n}: {decision.reason}")
                continue
            risk = decision.risk
        checked.append(
            CheckedStep(
                service=resolved.service.name,
                operation=resolved.operation.operation,
                arguments=arguments,
                risk=risk,
                is_command=is_cmd,
                idempotent=spec.idempotent,
                kind=resolved.service.kind,
            )
        )
    if problems:
        raise PlanInvalid(problems)
    return checked
