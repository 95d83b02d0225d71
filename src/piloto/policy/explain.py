"""`piloto policy explain`: the parsed simple commands, each with its risk and reason, as text."""

from __future__ import annotations

from piloto.policy.check import check_command
from piloto.policy.models import CommandLimits, PolicyParseError
from piloto.policy.parser import parse_command
from piloto.policy.risk import assess


def explain(cmd: str, limits: CommandLimits | None = None) -> list[str]:
    """Lines describing each simple command of `cmd` and the decision on the whole."""
    decision = check_command(cmd, limits)
    lines: list[str] = []
    try:
        records = parse_command(cmd)
    except PolicyParseError as exc:
        records = []
        lines.append(f"parse error: {exc}")
    for i, record in enumerate(records):
        effect = assess(record, records, i)
        lines.append(f"[{i}] {record.program or '(no program)'}")
        lines.append(f"    argv: {list(record.argv)}")
        if record.wrappers:
            lines.append(f"    wrappers: {', '.join(record.wrappers)}")
        if record.via:
            lines.append(f"    via: {record.via} (inside [{record.parent}])")
        if record.redirects:
            shown = ", ".join(f"{r.op} {r.target}".strip() for r in record.redirects)
            lines.append(f"    redirects: {shown}")
        if record.assignments:
            lines.append(f"    assignments: {', '.join(record.assignments)}")
        if record.function:
            lines.append(f"    in function: {record.function}")
        lines.append(f"    risk: {effect.risk}: {effect.reason}")
    for found in decision.lookalikes:
        lines.append(f"look-alike: {found}")
    lines.append(summary(decision.allowed, decision.risk, decision.risk_reason, decision.reason))
    return lines


def summary(allowed: bool, risk: str, risk_reason: str, reason: str) -> str:
    """One line: `allowed destructive: kills processes (kill -9)` or `blocked: …`."""
    if allowed:
        return f"allowed {risk}: {risk_reason}"
    return reason
