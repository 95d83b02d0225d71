"""The bubblewrap command line: a read-only system, private size-capped /tmp, hidden secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from piloto.toolbox.sandbox import Sandbox


def bwrap_argv(sandbox: Sandbox, cwd: Path) -> list[str]:
    """The `bwrap …` prefix that confines one command started in `cwd`."""
    assert sandbox.bwrap is not None
    wd = str(sandbox.workdir)
    argv = [sandbox.bwrap, "--die-with-parent", "--new-session"]
    if sandbox.run_as:
        # Root without a user namespace: bwrap is privileged, so setpriv can switch to a real
        # unprivileged uid, which RLIMIT_NPROC and file permissions then apply to. (In a user
        # namespace every uid would still be root outside.)
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not sandbox.network:
            argv.append("--unshare-net")
    else:
        argv.append("--unshare-all")
        if sandbox.network:
            argv.append("--share-net")
        if os.geteuid() == 0:
            argv += ["--cap-drop", "ALL"]
    argv += ["--ro-bind", "/", "/"]
    # World-writable with the sticky bit (bwrap's default 0755 would leave the unprivileged
    # user no /tmp), and size-capped: filling it fails with ENOSPC instead of eating memory.
    size = str(sandbox.tmp_bytes)
    for tmp in ("/tmp", "/var/tmp"):
        argv += ["--perms", "1777", "--size", size, "--tmpfs", tmp]
    argv += ["--tmpfs", "/root", "--tmpfs", "/home"]
    if not sandbox.network:
        # Host daemons' sockets live in /run; without a network there is no reason to see them.
        argv += ["--tmpfs", "/run"]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    # bwrap's /dev is a tmpfs without a size: its /dev/shm would be memory for anyone to fill.
    argv += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
    argv += sandbox.hide_args
    # After the tmpfs mounts, so a work directory under /tmp, /root or a hidden directory (the
    # demo's lives in Piloto's data directory) is still reachable. Parents that only exist
    # because of the bind would otherwise be created 0700, which the unprivileged user could
    # not traverse; existing directories are left as they are.
    for parent in reversed(sandbox.workdir.parents[:-1]):
        argv += ["--perms", "0755", "--dir", str(parent)]
    argv += ["--bind", wd, wd, "--chdir", str(cwd), "--clearenv"]
    for key, value in sandbox.env().items():
        argv += ["--setenv", key, value]
    return argv


def hide_args(paths: tuple[Path, ...]) -> tuple[str, ...]:
    """Cover each hidden directory with an empty tmpfs and each hidden file with /dev/null
    (it looks at the disk: called once when the sandbox is prepared)."""
    argv: list[str] = []
    # Outer paths first: a file inside a directory already covered needs nothing more.
    for path in sorted(paths, key=lambda p: len(p.parts)):
        if any(path.is_relative_to(other) for other in paths if other != path):
            continue
        if path.is_dir():
            argv += ["--perms", "0755", "--tmpfs", str(path)]
        elif path.exists():
            argv += ["--ro-bind", "/dev/null", str(path)]
    return tuple(argv)
