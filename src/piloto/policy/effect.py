"""The effect of one simple command: its risk, a stable code, and the words that show it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from piloto.policy.models import RISK_ORDER, Risk, SimpleCommand
from piloto.policy.rules_files import show, split_args
from piloto.policy.texts import risk_reason


@dataclass(frozen=True)
class Effect:
    """What a command does: `risk`, a `code` from `texts.TEXTS`, and a `detail` (the command)."""

    risk: Risk
    code: str
    detail: str = ""

    @property
    def reason(self) -> str:
        """The English risk reason, e.g. "kills processes (kill -9 1234)"."""
        return risk_reason(self.code, "en", self.detail)


Classifier = Callable[[SimpleCommand], Effect]


def read(cmd: SimpleCommand) -> Effect:
    """Only inspects."""
    return Effect("read", "read", cmd.name)


def write(cmd: SimpleCommand, code: str = "write") -> Effect:
    """Changes state within bounds."""
    return Effect("write", code, show(cmd, 50))


def destructive(cmd: SimpleCommand, code: str) -> Effect:
    """Deletes, stops, or runs code the policy cannot see."""
    return Effect("destructive", code, show(cmd, 50))


def worst(effects: Iterable[Effect]) -> Effect | None:
    """The highest-risk effect; the first one among equals."""
    best: Effect | None = None
    for effect in effects:
        if best is None or RISK_ORDER[effect.risk] > RISK_ORDER[best.risk]:
            best = effect
    return best


def operands(cmd: SimpleCommand, values: Sequence[str] = ()) -> list[str]:
    """The non-option arguments, skipping the values of the options in `values`."""
    out: list[str] = []
    skip = False
    ended = False
    for arg in cmd.args:
        if skip:
            skip = False
        elif ended or not arg.startswith("-") or arg == "-":
            out.append(arg)
        elif arg == "--":
            ended = True
        elif arg in values:
            skip = True
    return out


def options(cmd: SimpleCommand) -> set[str]:
    """Options as `-x` per short letter and `--long` without values."""
    return split_args(cmd.args)[0]


def has_option(cmd: SimpleCommand, *names: str) -> bool:
    """Whether any of the options is given (short letters in clusters, `--long[=v]`)."""
    found = options(cmd)
    return any(n in found for n in names)


def option_value(cmd: SimpleCommand, *names: str, booleans: str | None = None) -> list[str]:
    """Values of `-o V`, `-oV`, `--opt V` and `--opt=V`; `booleans` limits what may precede
    the letter in a cluster (`-tAc SQL`) so that `-pSecret` is not read as `-p -S -e cret`."""
    values: list[str] = []
    args = cmd.args
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                values.append(args[i + 1])
            elif name.startswith("--") and arg.startswith(name + "="):
                values.append(arg.split("=", 1)[1])
            elif (
                len(name) == 2 and arg.startswith("-") and not arg.startswith("--") and arg != name
            ):
                # A short cluster: `-qO-`, `-tAc SQL`; the letter takes the rest or the next word.
                at = arg.find(name[1], 1)
                before = arg[1:at]
                allowed = before.isalpha() and (booleans is None or set(before) <= set(booleans))
                if at > 0 and allowed:
                    rest = arg[at + 1 :]
                    values.append(rest if rest else (args[i + 1] if i + 1 < len(args) else ""))
    return values


def verb_effect(
    cmd: SimpleCommand,
    verb: str,
    *,
    reads: frozenset[str],
    destroys: frozenset[str] = frozenset(),
    code: str = "write",
    destroy_code: str = "delete",
) -> Effect:
    """Read for a reading verb, destructive for a destroying one, else write."""
    if verb in reads:
        return read(cmd)
    if verb in destroys:
        return destructive(cmd, destroy_code)
    return write(cmd, code)


def words(text: str) -> frozenset[str]:
    """A set from whitespace-separated words."""
    return frozenset(text.split())
