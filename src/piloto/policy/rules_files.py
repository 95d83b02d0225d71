"""Denylist rules about files and disks: recursive deletes, system files, devices, permissions."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from piloto.policy import paths
from piloto.policy.models import SimpleCommand

_DISK_TOOLS = re.compile(
    r"(mkfs(\..+)?|mke2fs|mkswap|mkntfs|mkdosfs|mkexfatfs|mkfs_\w+|blkdiscard)$"
)
_PARTITIONERS = {
    "fdisk": {"-l", "--list"},
    "sfdisk": {
        "-l",
        "--list",
        "-d",
        "--dump",
        "-s",
        "--show-size",
        "-J",
        "--json",
        "-V",
        "--verify",
    },
    "gdisk": {"-l"},
    "sgdisk": {"-p", "--print", "-v", "--verify", "-i", "--info"},
    "parted": {"-l", "--list"},
    "cfdisk": set(),
}
_COPIERS = frozenset({"cp", "mv", "install", "ln", "rsync"})
_PERMISSIONS = frozenset({"chmod", "chown", "chgrp", "setfacl", "chattr"})
FIND_DELETERS = frozenset(
    {"rm", "shred", "unlink", "rmdir", "chmod", "chown", "chgrp", "mv", "truncate"}
)


def show(cmd: SimpleCommand, limit: int = 60) -> str:
    """The command as a person would type it, shortened."""
    text = " ".join([cmd.program, *cmd.args]) if cmd.program else " ".join(cmd.argv)
    if not text:  # a bare redirection such as `> /etc/passwd`
        text = " ".join(f"{r.op} {r.target}" for r in cmd.redirects)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_args(args: tuple[str, ...]) -> tuple[set[str], list[str]]:
    """(options, operands): short clusters become one `-x` per letter; `--` ends options."""
    options: set[str] = set()
    operands: list[str] = []
    ended = False
    for arg in args:
        if ended or not arg.startswith("-") or arg == "-":
            operands.append(arg)
        elif arg == "--":
            ended = True
        elif arg.startswith("--"):
            options.add(arg.split("=", 1)[0])
        else:
            options.update("-" + letter for letter in arg[1:])
    return options, operands


def _targets(cmd: SimpleCommand, operands: list[str]) -> Iterator[tuple[str, str]]:
    """(as written, resolved) for each operand, braces expanded."""
    for word in operands:
        for expanded in _expand_braces(word):
            yield word, paths.resolve(expanded, cmd.cwd)


def _expand_braces(word: str, limit: int = 64) -> list[str]:
    match = re.search(r"\{([^{}]*,[^{}]*)\}", word)
    if not match:
        return [word]
    out: list[str] = []
    for choice in match.group(1).split(","):
        out.extend(_expand_braces(word[: match.start()] + choice + word[match.end() :], limit))
        if len(out) >= limit:
            break
    return out[:limit]


def _danger_of_path(word: str, resolved: str) -> str | None:
    """What deleting/overwriting this path would destroy, in words; None when it is not protected."""
    protected = paths.protected_dir(resolved)
    if protected is not None:
        inside = paths.is_glob(resolved) and resolved != protected
        return ("everything in " if inside else "") + paths.label(protected)
    empty = paths.if_variable_empty(word)
    if empty is not None:
        variable, becomes = empty
        guarded = paths.protected_dir(becomes)
        if guarded is not None:
            return f"{paths.label(guarded)} when {variable} is empty or unset"
    return None


def recursive_delete(cmd: SimpleCommand) -> str | None:
    """rm -r of / or a system directory (any flag spelling), rm of system files."""
    if cmd.name != "rm":
        return None
    options, operands = split_args(cmd.args)
    if "--no-preserve-root" in options:
        return f"`{show(cmd)}` turns off rm's protection of /"
    recursive = bool(options & {"-r", "-R", "--recursive"})
    for word, resolved in _targets(cmd, operands):
        danger = _danger_of_path(word, resolved)
        if danger is not None and (recursive or paths.is_glob(resolved)):
            return f"`{show(cmd)}` deletes {danger}"
        if paths.system_file(resolved):
            return f"`{show(cmd)}` deletes the system file {resolved}"
    return None


def find_delete(cmd: SimpleCommand) -> str | None:
    """find -delete / -exec rm starting at / or a system directory."""
    if cmd.name != "find":
        return None
    deletes = "-delete" in cmd.args or any(
        arg in ("-exec", "-execdir", "-ok", "-okdir")
        and i + 1 < len(cmd.args)
        and cmd.args[i + 1].rsplit("/", 1)[-1] in FIND_DELETERS
        for i, arg in enumerate(cmd.args)
    )
    if not deletes:
        return None
    for word, resolved in _targets(cmd, find_starts(cmd)):
        danger = _danger_of_path(word, resolved)
        if danger is not None:
            return f"`{show(cmd)}` deletes or changes files across {danger}; narrow the starting directory"
    return None


def disk_tools(cmd: SimpleCommand) -> str | None:
    """mkfs*, mkswap, wipefs, and partition editors that write."""
    if _DISK_TOOLS.match(cmd.name):
        return f"`{show(cmd)}` formats a disk and destroys its data"
    options, operands = split_args(cmd.args)
    if cmd.name == "wipefs" and options & {"-a", "--all", "-o", "--offset"} and "-n" not in options:
        return f"`{show(cmd)}` erases the signatures that make a disk readable"
    if cmd.name in _PARTITIONERS:
        if options & _PARTITIONERS[cmd.name]:
            return None
        if cmd.name == "parted" and operands[-1:] == ["print"]:
            return None
        return f"`{show(cmd)}` can rewrite a disk's partition table"
    return None


def written_paths(cmd: SimpleCommand) -> Iterator[str]:
    """Paths the command writes: redirections, tee, cp/mv/ln destinations, sed -i, dd of=."""
    yield from cmd.writes
    options, operands = split_args(cmd.args)
    if cmd.name in ("tee", "truncate", "shred", "sponge", "unlink"):
        yield from operands
    elif cmd.name in _COPIERS and operands:
        yield from _copy_destinations(cmd, operands)
    elif cmd.name == "sed" and (
        options & {"-i", "--in-place"} or any(a.startswith("-i") for a in cmd.args)
    ):
        script_given = bool(options & {"-e", "--expression", "-f", "--file"})
        yield from operands[0 if script_given else 1 :]
    elif cmd.name == "dd":
        yield from (a[3:] for a in cmd.args if a.startswith("of="))
    elif cmd.name in ("sort", "shuf"):
        for i, arg in enumerate(cmd.args):
            if arg in ("-o", "--output") and i + 1 < len(cmd.args):
                yield cmd.args[i + 1]
            elif arg.startswith("--output="):
                yield arg.split("=", 1)[1]
            elif arg.startswith("-o") and len(arg) > 2:
                yield arg[2:]


def _copy_destinations(cmd: SimpleCommand, operands: list[str]) -> Iterator[str]:
    """cp/mv/install/ln/rsync: the destination, and DIR/name for each source copied into a dir."""
    directory = next(
        (a.split("=", 1)[1] for a in cmd.args if a.startswith("--target-directory=")), None
    )
    for i, arg in enumerate(cmd.args[:-1]):
        if arg == "-t":
            directory = cmd.args[i + 1]
    sources = [op for op in operands if op != directory]
    if directory is None:
        directory, sources = operands[-1], operands[:-1]
        yield directory
    if directory.endswith("/") or paths.resolve(directory, cmd.cwd) in paths.PROTECTED_DIRS:
        for source in sources:
            yield directory.rstrip("/") + "/" + source.rstrip("/").rsplit("/", 1)[-1]


def system_writes(cmd: SimpleCommand) -> str | None:
    """Writes to disks, /boot, passwd/shadow/sudoers/fstab/sshd_config and friends."""
    for word in written_paths(cmd):
        resolved = paths.resolve(word, cmd.cwd)
        disk = paths.disk_device(resolved)
        if disk is not None:
            return f"`{show(cmd)}` writes straight to the disk device {disk}, destroying its data"
        system = paths.system_file(resolved)
        if system is not None:
            verb = "destroys" if cmd.name in ("unlink", "shred", "truncate") else "overwrites"
            return f"`{show(cmd)}` {verb} the system file {system}"
    return None


def rsync_delete(cmd: SimpleCommand) -> str | None:
    """rsync --delete into / or a system directory empties it of everything not in the source."""
    if cmd.name != "rsync" or not any(a.startswith("--delete") for a in cmd.args):
        return None
    _, operands = split_args(cmd.args)
    if len(operands) >= 2:
        danger = _danger_of_path(operands[-1], paths.resolve(operands[-1], cmd.cwd))
        if danger is not None:
            return f"`{show(cmd)}` deletes whatever the source lacks from {danger}"
    return None


def moves_away(cmd: SimpleCommand) -> str | None:
    """mv of / or a system directory or file (`mv / …`, `mv ~ /dev/null`), mv onto a device."""
    if cmd.name != "mv":
        return None
    _, operands = split_args(cmd.args)
    if len(operands) < 2:
        return None
    for word, resolved in _targets(cmd, operands[:-1]):
        danger = _danger_of_path(word, resolved)
        if danger is not None:
            return f"`{show(cmd)}` moves away {danger}"
        if paths.system_file(resolved):
            return f"`{show(cmd)}` moves away the system file {resolved}"
    destination = paths.resolve(operands[-1], cmd.cwd)
    if destination.startswith("/dev/"):
        return f"`{show(cmd)}` replaces the device file {destination}"
    return None


def permissions(cmd: SimpleCommand) -> str | None:
    """Recursive chmod/chown/chgrp/setfacl on system directories; any change to system files."""
    if cmd.name not in _PERMISSIONS:
        return None
    if cmd.name == "chattr":
        operands = [a for a in cmd.args if a[:1] not in ("-", "+", "=")]
        options = {a for a in cmd.args if a == "-R"}
    else:
        options, operands = split_args(cmd.args)
        if "--no-preserve-root" in options:
            return f"`{show(cmd)}` turns off the protection of /"
        takes_spec = not any(a.startswith("--reference") for a in cmd.args)
        if takes_spec and cmd.name != "setfacl":
            operands = operands[1:]
    recursive = bool(options & {"-R", "--recursive"})
    for word, resolved in _targets(cmd, operands):
        danger = _danger_of_path(word, resolved)
        if danger is not None and (recursive or cmd.name != "setfacl"):
            return f"`{show(cmd)}` changes permissions or ownership across {danger}"
        system = paths.system_file(resolved)
        if system is not None:
            return (
                f"`{show(cmd)}` changes the permissions or attributes of the system file {system}"
            )
    return None


RULES = (
    recursive_delete,
    find_delete,
    disk_tools,
    system_writes,
    moves_away,
    permissions,
    rsync_delete,
)


def find_starts(cmd: SimpleCommand) -> list[str]:
    """The starting points of a find command (`.` when none is given)."""
    starts: list[str] = []
    for arg in cmd.args:
        if arg.startswith(("-", "(", "!")):
            break
        starts.append(arg)
    return starts or ["."]


def find_into_deleter(records: Sequence[SimpleCommand]) -> str | None:
    """`find / … | xargs rm`: the same as `find / -delete`."""
    for cmd in records:
        if cmd.via != "exec" or cmd.parent is None or cmd.name not in FIND_DELETERS:
            continue
        xargs = records[cmd.parent]
        if xargs.name != "xargs":
            continue
        for find in records:
            if find.name == "find" and find.pipeline == xargs.pipeline and find.stage < xargs.stage:
                for word, resolved in _targets(find, find_starts(find)):
                    danger = _danger_of_path(word, resolved)
                    if danger is not None:
                        return (
                            f"`{show(find, 30)} | {show(xargs, 30)}` deletes or changes files "
                            f"across {danger}; narrow the starting directory"
                        )
    return None
