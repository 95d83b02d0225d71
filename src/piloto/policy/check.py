"""The command policy: one entry point for every shell command, typed, proposed or corrected."""

from __future__ import annotations

from collections.abc import Sequence

from piloto.policy import code, rules_files, rules_system
from piloto.policy.models import (
    RISK_ORDER,
    CommandLimits,
    Decision,
    PolicyParseError,
    Risk,
    SimpleCommand,
)
from piloto.policy.parser import parse_command
from piloto.policy.risk import risk_of
from piloto.policy.unwrap import PRIVILEGED

_RULES = (*rules_files.RULES, *rules_system.RULES)
# Built-ins that only change the shell's own state: an allowlist need not name them.
_SHELL_STATE = frozenset(
    {
        "cd",
        "pushd",
        "popd",
        "dirs",
        "export",
        "unset",
        "set",
        "shift",
        "wait",
        "true",
        "false",
        ":",
        "local",
        "declare",
        "typeset",
        "readonly",
        "test",
        "[",
        "[[",
    }
)
_MAX_CODE_DEPTH = 3


def check_command(cmd: str, limits: CommandLimits | None = None) -> Decision:
    """Whether `cmd` may run, why, which programs it runs and how risky it is."""
    limits = limits or CommandLimits()
    if not cmd.strip():
        return Decision(False, "blocked: the command is empty", (), "read")
    if len(cmd) > limits.max_length:
        return Decision(
            False,
            f"blocked: the command is {len(cmd)} characters long; the limit is {limits.max_length}",
            (),
            "destructive",
        )
    try:
        records = parse_command(cmd)
    except PolicyParseError as exc:
        return Decision(
            False, f"blocked: the command could not be parsed safely: {exc}", (), "destructive"
        )
    programs = programs_of(records)
    if not records:
        return Decision(False, "blocked: the command runs nothing", (), "read")
    reason = denylist_reason(records)
    if reason is not None:
        return Decision(False, f"blocked: {reason}", programs, "destructive")
    computed = next((r for r in records if r.computed), None)
    if computed is not None:
        return Decision(
            False,
            f"blocked: the program name `{computed.program}` is computed at run time, "
            "so it cannot be checked; write the program name literally",
            programs,
            "destructive",
        )
    risk = highest([risk_of(r) for r in records])
    if limits.allowlist is not None:
        needed = [p for p in (*programs, *_privileged(records)) if p not in _SHELL_STATE]
        refused = [p for p in dict.fromkeys(needed) if p not in limits.allowlist]
        if refused:
            listed = ", ".join(sorted(limits.allowlist)) or "nothing"
            names = ", ".join(f"`{p}`" for p in refused)
            verb = "is" if len(refused) == 1 else "are"
            return Decision(
                False,
                f"blocked: {names} {verb} not on this project's allowlist (allowed: {listed})",
                programs,
                risk,
            )
    via = _privileged(records)
    suffix = f" (via {', '.join(via)})" if via else ""
    shown = ", ".join(programs) if programs else "shell built-ins only"
    return Decision(True, f"allowed: runs {shown}{suffix}", programs, risk)


def check_correction(
    original: str, corrected: str, limits: CommandLimits | None = None
) -> Decision:
    """Whether the reasoner's correction may run under the original's confirmation."""
    after = check_command(corrected, limits)
    if not after.allowed:
        return after
    before = check_command(original, limits)
    if not before.programs:
        return Decision(
            False,
            "blocked: the original command could not be judged, so the correction cannot be "
            "compared with it; it needs a new confirmation",
            after.programs,
            after.risk,
        )
    new = [p for p in after.programs if p not in before.programs]
    if new:
        dropped = [p for p in before.programs if p not in after.programs]
        names = ", ".join(f"`{p}`" for p in new)
        change = f"instead of {', '.join(f'`{p}`' for p in dropped)}" if dropped else "as well"
        return Decision(
            False,
            f"blocked: the correction runs {names} {change}; it needs a new confirmation",
            after.programs,
            after.risk,
        )
    raised = sorted(set(_privileged_of(corrected)) - set(_privileged_of(original)))
    if raised:
        return Decision(
            False,
            f"blocked: the correction adds {', '.join(f'`{p}`' for p in raised)}, "
            "which raises privileges; it needs a new confirmation",
            after.programs,
            after.risk,
        )
    if RISK_ORDER[after.risk] > RISK_ORDER[before.risk]:
        return Decision(
            False,
            f"blocked: the correction raises the risk from {before.risk} to {after.risk}; "
            "it needs a new confirmation",
            after.programs,
            after.risk,
        )
    return Decision(
        True,
        f"allowed: the correction runs {', '.join(after.programs)} as the original did, "
        f"at {after.risk} risk",
        after.programs,
        after.risk,
    )


def denylist_reason(records: Sequence[SimpleCommand], depth: int = 0) -> str | None:
    """The first denylist rule the commands break, in words; None when none does."""
    for cross in (*rules_system.CROSS_RULES, rules_files.find_into_deleter):
        reason = cross(records)
        if reason is not None:
            return reason
    for record in records:
        for rule in _RULES:
            reason = rule(record)
            if reason is not None:
                return reason
        if record.code and depth < _MAX_CODE_DEPTH:
            reason = _code_reason(record, depth)
            if reason is not None:
                return reason
    return None


def _code_reason(record: SimpleCommand, depth: int) -> str | None:
    """Destructive calls, or denylisted shell strings, inside interpreter code."""
    for text in record.code:
        found = code.destructive_call(text)
        if found is not None:
            return f"the {record.name} code is destructive: {found}"
        for literal in code.literals(text):
            try:
                inner = parse_command(literal)
            except PolicyParseError:
                continue  # most string literals are not shell commands
            reason = denylist_reason(inner, depth + 1)
            if reason is not None:
                return f"the {record.name} code runs a shell command: {reason}"
    return None


def programs_of(records: Sequence[SimpleCommand]) -> tuple[str, ...]:
    """Basenames of the programs run, in order, once each; wrappers like sudo and bash -c left out."""
    names = [r.name for r in records if r.name and not r.unwrapped and not r.computed]
    return tuple(dict.fromkeys(names))


def _privileged(records: Sequence[SimpleCommand]) -> list[str]:
    found = [w for r in records for w in r.wrappers if w in PRIVILEGED]
    found += [r.name for r in records if r.unwrapped and r.name in PRIVILEGED]
    return list(dict.fromkeys(found))


def _privileged_of(cmd: str) -> list[str]:
    try:
        return _privileged(parse_command(cmd))
    except PolicyParseError:
        return []


def highest(risks: Sequence[Risk]) -> Risk:
    """The highest of several risks (read < write < destructive)."""
    return max(risks, key=RISK_ORDER.__getitem__, default="read")
