"""The command policy: one entry point for every shell command, typed, proposed or corrected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from piloto.policy import allowlist as allowlist_rules
from piloto.policy import chars, code, rules_files, rules_persist, rules_system
from piloto.policy.effect import Effect, worst
from piloto.policy.models import (
    RISK_ORDER,
    CommandLimits,
    Decision,
    PolicyParseError,
    Risk,
    SimpleCommand,
)
from piloto.policy.parser import parse_command
from piloto.policy.risk import assess
from piloto.policy.unwrap import PRIVILEGED

_RULES = (*rules_files.RULES, *rules_system.RULES, *rules_persist.RULES)
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
    """Whether `cmd` may run, why, which programs it runs, how risky it is and why."""
    limits = limits or CommandLimits()
    similar = tuple(chars.lookalikes(cmd))
    if not cmd.strip():
        return _refused("the command is empty", (), "blocked", similar, risk="read")
    hidden = chars.hidden_characters(cmd)
    if hidden:
        return _refused(
            f"the command holds {', '.join(hidden[:3])}: an invisible or direction-changing "
            "character can make the card show something other than what runs; retype the "
            "command without it",
            (),
            "hidden-character",
            similar,
        )
    if len(cmd) > limits.max_length:
        return _refused(
            f"the command is {len(cmd)} characters long; the limit is {limits.max_length}",
            (),
            "blocked",
            similar,
        )
    try:
        records = parse_command(cmd)
    except PolicyParseError as exc:
        return _refused(
            f"the command could not be parsed safely: {exc}", (), "unparseable", similar
        )
    programs = programs_of(records)
    if not records:
        return _refused("the command runs nothing", (), "blocked", similar, risk="read")
    reason = denylist_reason(records)
    if reason is not None:
        return _refused(reason, programs, "blocked", similar)
    computed = next((r for r in records if r.computed), None)
    if computed is not None:
        return _refused(
            f"the program name `{computed.program}` is computed at run time, "
            "so it cannot be checked; write the program name literally",
            programs,
            "dynamic",
            similar,
        )
    effect = plan_effect(records)
    if effect.risk == "read":
        effect = Effect("read", "read", ", ".join(programs))
    if limits.allowlist is not None:
        refused = _allowlist_reason(records, programs, limits.allowlist)
        if refused is not None:
            return _refused(refused, programs, "allowlist", similar, risk=effect.risk)
    via = _privileged(records)
    suffix = f" (via {', '.join(via)})" if via else ""
    shown = ", ".join(programs) if programs else "shell built-ins only"
    return Decision(
        True,
        f"allowed: runs {shown}{suffix}",
        programs,
        effect.risk,
        risk_code=effect.code,
        risk_reason=effect.reason,
        risk_detail=effect.detail,
        lookalikes=similar,
    )


def plan_effect(records: Sequence[SimpleCommand]) -> Effect:
    """The highest effect among the commands (functions defined count as unseen code)."""
    effects = [assess(r, records, i) for i, r in enumerate(records)]
    effects += [
        Effect("destructive", "alias", f"function {r.function}") for r in records if r.function
    ]
    found = worst(effects)
    return found if found is not None else Effect("read", "read", "")


def _refused(
    why: str,
    programs: tuple[str, ...],
    code: str,
    similar: tuple[str, ...],
    *,
    risk: Risk = "destructive",
) -> Decision:
    return Decision(
        False,
        f"blocked: {why}",
        programs,
        risk,
        risk_code=code,
        risk_reason=why,
        lookalikes=similar,
    )


def _allowlist_reason(
    records: Sequence[SimpleCommand], programs: tuple[str, ...], allowlist: frozenset[str]
) -> str | None:
    escape = allowlist_rules.refusal(records, allowlist)
    if escape is not None:
        return escape
    needed = [p for p in (*programs, *_privileged(records)) if p not in _SHELL_STATE]
    refused = [p for p in dict.fromkeys(needed) if p not in allowlist]
    if not refused:
        return None
    listed = ", ".join(sorted(allowlist)) or "nothing"
    names = ", ".join(f"`{p}`" for p in refused)
    verb = "is" if len(refused) == 1 else "are"
    return f"{names} {verb} not on this project's allowlist (allowed: {listed})"


def check_correction(
    original: str, corrected: str, limits: CommandLimits | None = None
) -> Decision:
    """Whether the reasoner's correction may run under the original's confirmation."""
    after = check_command(corrected, limits)
    if not after.allowed:
        return after
    before = check_command(original, limits)
    if not before.programs:
        return replace(
            after,
            allowed=False,
            reason="blocked: the original command could not be judged, so the correction cannot be "
            "compared with it; it needs a new confirmation",
        )
    new = [p for p in after.programs if p not in before.programs]
    if new:
        dropped = [p for p in before.programs if p not in after.programs]
        names = ", ".join(f"`{p}`" for p in new)
        change = f"instead of {', '.join(f'`{p}`' for p in dropped)}" if dropped else "as well"
        return replace(
            after,
            allowed=False,
            reason=f"blocked: the correction runs {names} {change}; it needs a new confirmation",
        )
    raised = sorted(set(_privileged_of(corrected)) - set(_privileged_of(original)))
    if raised:
        return replace(
            after,
            allowed=False,
            reason=f"blocked: the correction adds {', '.join(f'`{p}`' for p in raised)}, "
            "which raises privileges; it needs a new confirmation",
        )
    if after.risk != "read":
        # Issue 16: only a read-only correction may run under the old consent; anything that
        # changes state (even with the same program, like `rm x` -> `rm -rf ./*`) is a new draft.
        return replace(
            after,
            allowed=False,
            reason=f"blocked: the correction {after.risk_reason or 'changes state'} "
            f"({after.risk}); only a read-only correction runs under the original "
            "confirmation, so it needs a new confirmation",
        )
    if RISK_ORDER[after.risk] > RISK_ORDER[before.risk]:
        return replace(
            after,
            allowed=False,
            reason=f"blocked: the correction raises the risk from {before.risk} to {after.risk}; "
            "it needs a new confirmation",
        )
    return replace(
        after,
        allowed=True,
        reason=f"allowed: the correction runs {', '.join(after.programs)} as the original did, "
        f"at {after.risk} risk",
    )


def denylist_reason(records: Sequence[SimpleCommand], depth: int = 0) -> str | None:
    """The first denylist rule the commands break, in words; None when none does."""
    for cross in (
        *rules_system.CROSS_RULES,
        *rules_persist.CROSS_RULES,
        rules_files.find_into_deleter,
    ):
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
