"""The policy's value types: decisions, limits and parsed simple commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Risk = Literal["read", "write", "destructive"]

RISK_ORDER: dict[Risk, int] = {"read": 0, "write": 1, "destructive": 2}

# Redirection operators that write to their target.
OUTPUT_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})


class PolicyParseError(ValueError):
    """The command cannot be parsed safely; the policy blocks it."""


@dataclass(frozen=True)
class Decision:
    """The policy's verdict on one command; `risk_reason` says in words what it does."""

    allowed: bool
    reason: str
    programs: tuple[str, ...]
    risk: Risk
    # A stable code for the effect ("kill", "delete", "inline-code"; "blocked" when refused) so
    # callers can translate `risk_reason` with `policy.texts.risk_reason`.
    risk_code: str = ""
    risk_reason: str = ""
    risk_detail: str = ""
    # Non-ASCII characters that look like ASCII ones ("е (U+0435 CYRILLIC SMALL LETTER IE) at 2").
    lookalikes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandLimits:
    """Per-project limits on top of the built-in denylist."""

    allowlist: frozenset[str] | None = None
    max_length: int = 4096


@dataclass(frozen=True)
class Redirect:
    """One redirection: `op` is the operator (`>`, `>>`, `<`, `<<<`, `2>&1` is `>&`)."""

    op: str
    target: str
    fd: int | None = None

    @property
    def writes(self) -> bool:
        """Whether the redirection writes to a file (fd duplications like `2>&1` do not)."""
        return self.op in OUTPUT_REDIRECTS and bool(self.target)


@dataclass(frozen=True)
class SimpleCommand:
    """One program the command would run, after unwrapping sudo, env, `bash -c` and the like.

    `parent` is the index (in `parse_command`'s list) of the command this one is nested in,
    and `via` says how: "substitution" (`$(…)`, backticks), "process-substitution" (`<(…)`),
    "-c" (a string run by a shell, eval, su -c), "exec" (xargs, find -exec), "stdin" (a script
    piped or here-doc'd into a shell), "remote" (ssh), "watch".
    """

    program: str
    argv: tuple[str, ...]
    name: str
    redirects: tuple[Redirect, ...] = ()
    wrappers: tuple[str, ...] = ()  # sudo, env, timeout, nice, … that were peeled off
    computed: bool = False  # the program name is computed at run time ($X, $(…), globs)
    unwrapped: bool = False  # only runs the string it is given (bash -c, eval, su -c)
    code: tuple[str, ...] = ()  # inline program text (python -c, perl -e, awk 'prog')
    stdin_code: bool = False  # runs whatever reaches its stdin as code (`… | sh`)
    stdin_text: str | None = None  # here-doc or here-string content
    pipeline: int = 0
    stage: int = 0
    background: bool = False
    parent: int | None = None
    via: str = ""
    function: str | None = None
    cwd: str | None = None
    # NAME=value words that set the environment for this command (prefix, env, sudo, export).
    assignments: tuple[str, ...] = ()

    @property
    def args(self) -> tuple[str, ...]:
        """The arguments, without the program."""
        return self.argv[1:]

    @property
    def writes(self) -> tuple[str, ...]:
        """Targets of output redirections (`>`, `>>`, `&>`, …)."""
        return tuple(r.target for r in self.redirects if r.writes)
