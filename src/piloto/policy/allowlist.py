"""A project allowlist that holds: programs are judged by what runs, not by their basename."""

from __future__ import annotations

from collections.abc import Sequence

from piloto.policy import unwrap
from piloto.policy.models import SimpleCommand
from piloto.policy.risk import CODE_VARIABLES, SYSTEM_BIN_DIRS, real_binary
from piloto.policy.rules_files import show, split_args

# Wrappers that change which binary runs, or how its words are split: an allowlist cannot hold.
_ESCAPING_WRAPPERS = {
    "chroot": "runs the program from another root directory",
    "busybox": "runs busybox's own copy of the program",
    "env -S": "splits a string into a new command line",
}
_COPIERS = frozenset({"cp", "mv", "ln", "install", "rsync", "dd", "cat", "tee"})


def refusal(records: Sequence[SimpleCommand], allowlist: frozenset[str]) -> str | None:
    """Why the commands escape the allowlist (a path that is not the real binary, PATH=…), or None."""
    dirs = ", ".join(sorted(SYSTEM_BIN_DIRS))
    for cmd in records:
        if cmd.program and not cmd.computed and not real_binary(cmd.program):
            return (
                f"`{cmd.program}` is not the system's `{cmd.name}`: an allowlist counts a program "
                f"only from {dirs}; run it by its name"
            )
        for word in cmd.assignments:
            name = word.split("=", 1)[0]
            if name in CODE_VARIABLES or name.startswith(("LD_", "DYLD_")):
                return (
                    f"`{word[:40]}` changes which code runs, so the allowlist cannot vouch for "
                    f"`{cmd.name or 'the commands after it'}`; run the command without it"
                )
        for wrapper in cmd.wrappers:
            why = _ESCAPING_WRAPPERS.get(wrapper)
            if why is not None:
                return (
                    f"`{wrapper}` {why}, which an allowlist cannot check; run `{cmd.name}` directly"
                )
        if cmd.name == "hash" and any(a.startswith("-p") for a in cmd.args):
            return f"`{show(cmd)}` binds a program name to another file, which would bypass the allowlist"
        copied = _copied_shell(cmd)
        if copied is not None:
            return f"`{show(cmd)}` copies the program `{copied}` under another name, which would bypass the allowlist"
    return None


def _copied_shell(cmd: SimpleCommand) -> str | None:
    """A shell or interpreter copied or linked to another name (`cp /bin/bash ./ls`)."""
    if cmd.name not in _COPIERS:
        return None
    _, operands = split_args(cmd.args)
    sources = (
        [a[3:] for a in cmd.args if a.startswith("if=")] if cmd.name == "dd" else operands[:-1]
    )
    if cmd.name in ("cat", "tee"):
        sources = operands if cmd.writes else []
    for source in sources:
        base = unwrap.basename(source)
        if (
            base in unwrap.SHELLS
            or unwrap.is_interpreter(base)
            or base in ("busybox", "env", "xargs")
        ):
            return base
    return None
