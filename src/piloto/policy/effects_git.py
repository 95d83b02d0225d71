"""Effects of git: read verbs read; force pushes, hard resets, cleans and deletes are destructive."""

from __future__ import annotations

from piloto.policy.effect import Effect, destructive, read, verb_effect, words, write
from piloto.policy.models import SimpleCommand

_GIT_READ = words(
    "status log diff show blame shortlog describe rev-parse rev-list ls-files ls-tree ls-remote "
    "grep cat-file show-ref for-each-ref count-objects whatchanged cherry name-rev merge-base "
    "verify-commit verify-tag help version var check-ignore check-attr show-branch range-diff"
)
# Configuration keys that make git run a program: setting them is running code.
_GIT_CODE_KEYS = (
    "alias.",
    "core.pager",
    "core.editor",
    "core.sshcommand",
    "core.fsmonitor",
    "core.hookspath",
    "core.askpass",
    "core.gitproxy",
    "diff.",
    "filter.",
    "merge.",
    "pager.",
    "sequence.editor",
    "credential.helper",
    "gpg.program",
    "uploadpack.",
    "receivepack.",
    "remote.",
    "protocol.",
    "url.",
    "include.",
    "includeif.",
)
_GIT_GLOBAL_VALUES = (
    "-C",
    "-c",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--exec-path",
    "--config-env",
)


def _git_split(cmd: SimpleCommand) -> tuple[list[str], list[str]]:
    """(global options, the verb and its arguments)."""
    args = list(cmd.args)
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in _GIT_GLOBAL_VALUES else 1
    return args[:i], args[i:]


# Verbs that take a program to run on the other side (`--upload-pack`, `ext::` URLs).
_REMOTE_VERBS = frozenset({"clone", "fetch", "pull", "ls-remote", "push", "archive", "remote"})
_FORCE = frozenset(
    {"-f", "--force", "--force-with-lease", "--mirror", "--delete", "-d", "--prune"}
    | {"--force-if-includes"}
)


def _short(args: list[str], letter: str) -> bool:
    return any(a.startswith("-") and not a.startswith("--") and letter in a for a in args)


def git(cmd: SimpleCommand) -> Effect:
    """Read verbs read; force pushes, hard resets, cleans and branch deletes are destructive."""
    globals_, rest = _git_split(cmd)
    if any(
        g in ("-c", "--config-env") or g.startswith(("--exec-path", "--config-env"))
        for g in globals_
    ):
        return destructive(cmd, "hidden-code")  # git -c core.pager=… / alias.x='!…' runs code
    verb, args = (rest[0], rest[1:]) if rest else ("status", [])
    if verb in _REMOTE_VERBS and any(
        a.startswith(("ext::", "--upload-pack", "--receive-pack", "--exec", "--config", "-c"))
        or (a == "-u" and verb != "push")
        for a in args
    ):
        return destructive(cmd, "hidden-code")
    flags = {a.split("=", 1)[0] for a in args if a.startswith("-")}
    if flags & {"--output", "--ext-diff"} or {"-p", "--paginate"} & set(globals_):
        return write(cmd)
    special = _VERBS.get(verb)
    if special is not None:
        return special(cmd, args, flags)
    return read(cmd) if verb in _GIT_READ else write(cmd)


def _config(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    keys = [a.lower() for a in args if not a.startswith("-")]
    if len(keys) > 1 and keys[0].startswith(_GIT_CODE_KEYS):
        return destructive(cmd, "hidden-code")  # a pager, alias or hook git will run later
    listing = flags & {"--get", "--list", "-l", "--get-all", "--get-regexp", "--show-origin"}
    changes = flags & {
        "--unset",
        "--unset-all",
        "--remove-section",
        "--rename-section",
        "-e",
        "--edit",
    }
    return read(cmd) if listing or (len(keys) <= 1 and not changes) else write(cmd)


def _push(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    refs = [a for a in args if not a.startswith("-")][1:]
    if flags & _FORCE or _short(args, "f") or any(r.startswith(("+", ":")) for r in refs):
        return destructive(cmd, "history")
    return write(cmd)


def _reset(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    return destructive(cmd, "history") if flags & {"--hard", "--merge", "--keep"} else write(cmd)


def _clean(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    forcing = _short(args, "f") or "--force" in flags
    dry = _short(args, "n") or "--dry-run" in flags
    return destructive(cmd, "delete") if forcing and not dry else read(cmd)


def _branch(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    if flags & {"--delete", "-M", "-C"} or _short(args, "d") or _short(args, "D"):
        return destructive(cmd, "history")
    names = [a for a in args if not a.startswith("-")]
    listing = flags & {"-l", "--list", "-a", "-r", "--all", "--remotes", "-v", "-vv", "--merged"}
    listing |= flags & {"--no-merged", "--contains", "--show-current", "-n"}
    return read(cmd) if not names or listing else write(cmd)


def _checkout(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    if flags & {"-f", "--force", "--discard-changes"} or "--" in args or "." in args:
        return destructive(cmd, "history")  # throws away local changes
    return write(cmd)


def _restore(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    staged_only = flags & {"--staged", "-S"} and not flags & {"--worktree", "-W"}
    return write(cmd) if staged_only else destructive(cmd, "history")


def _stash(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    sub = args[0] if args and not args[0].startswith("-") else "push"
    return verb_effect(
        cmd, sub, reads=words("list show"), destroys=words("drop clear"), destroy_code="history"
    )


def _remote(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    names = [a for a in args if not a.startswith("-")]
    return read(cmd) if not names or names[0] in ("show", "get-url") else write(cmd)


def _reflog(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    sub = args[0] if args else "show"
    return verb_effect(
        cmd,
        sub,
        reads=words("show exists"),
        destroys=words("expire delete"),
        destroy_code="history",
    )


def _rewrite(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    return destructive(cmd, "history")


def _update_ref(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    return destructive(cmd, "history") if "-d" in flags else write(cmd)


def _gc(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    return destructive(cmd, "history") if "--prune" in flags else write(cmd)


def _forced_delete(cmd: SimpleCommand, args: list[str], flags: set[str]) -> Effect:
    return destructive(cmd, "delete") if flags & {"-f", "--force"} else write(cmd)


_VERBS = {
    "config": _config,
    "push": _push,
    "reset": _reset,
    "clean": _clean,
    "branch": _branch,
    "tag": _branch,
    "checkout": _checkout,
    "switch": _checkout,
    "restore": _restore,
    "stash": _stash,
    "remote": _remote,
    "reflog": _reflog,
    "filter-branch": _rewrite,
    "filter-repo": _rewrite,
    "update-ref": _update_ref,
    "gc": _gc,
    "worktree": _forced_delete,
    "submodule": _forced_delete,
}
