"""Confine a command where bubblewrap cannot: seccomp denies sockets, Landlock hides paths.

Run as a script, never imported by the command it starts: ``python -I -S confine.py [--no-net]
[--rw PATH]... [--hide PATH]... [--uid N --gid N] -- PROGRAM ARGS...`` installs the filters on itself and execs
PROGRAM, which inherits them (they survive exec and the later switch to an unprivileged uid).
``--probe`` prints what this kernel supports as JSON. Only the standard library is used, so it
starts fast and does not depend on Piloto being importable by the command's user.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # C module: `signal` imports enum, functools
import ctypes
import errno
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# (AUDIT_ARCH, socket, io_uring_setup, landlock_create_ruleset): the two architectures Piloto
# ships for. Elsewhere the network filter is reported unavailable rather than guessed.
ARCHES = {
    "x86_64": (0xC000003E, 41, 425, 444),
    "aarch64": (0xC00000B7, 198, 425, 444),
}
AF_NETLINK = 16

BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000

# Landlock filesystem rights by ABI version (1: 13 rights; 2: REFER; 3: TRUNCATE; 5: IOCTL_DEV).
LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1, 2, 4, 8
LL_REFER, LL_TRUNCATE, LL_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
LL_FILE_RIGHTS = LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV
LL_READ = LL_EXECUTE | LL_READ_FILE | LL_READ_DIR
LL_RULE_PATH_BENEATH = 1
LL_CREATE_RULESET_VERSION = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _fail(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def network_filter() -> bytes | None:
    """A seccomp program denying socket() for every family but netlink, and io_uring."""
    arch = ARCHES.get(os.uname().machine)
    if arch is None:
        return None
    audit_arch, nr_socket, nr_uring, _ = arch
    deny = RET_ERRNO | errno.EACCES
    program = [
        (BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (BPF_JEQ_K, 1, 0, audit_arch),
        (BPF_RET_K, 0, 0, RET_KILL_PROCESS),  # another ABI (i386, x32 via arch): no way round
        (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (BPF_JGE_K, 0, 1, 0x40000000),  # x32 syscall numbers on x86_64
        (BPF_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
        (BPF_JEQ_K, 0, 1, nr_uring),  # io_uring can open sockets without socket()
        (BPF_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
        (BPF_JEQ_K, 0, 3, nr_socket),
        (BPF_LD_W_ABS, 0, 0, 16),  # args[0], the address family (low 32 bits)
        # Netlink stays: `ip addr`, `ss` read the host's state with it and cannot reach a peer.
        (BPF_JEQ_K, 1, 0, AF_NETLINK),
        (BPF_RET_K, 0, 0, deny),
        (BPF_RET_K, 0, 0, RET_ALLOW),
    ]
    return b"".join(struct.pack("=HBBI", *insn) for insn in program)


def deny_network() -> None:
    """Install the socket filter on this process (and everything it execs)."""
    program = network_filter()
    if program is None:
        raise OSError(errno.ENOSYS, f"no seccomp filter for {os.uname().machine}")
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fbuf, 0, 0) != 0:
        _fail("seccomp")


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers; 0 when there is none."""
    arch = ARCHES.get(os.uname().machine)
    if arch is None:
        return 0
    version = _libc.syscall(arch[3], None, ctypes.c_size_t(0), LL_CREATE_RULESET_VERSION)
    return max(int(version), 0)


def _handled(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= LL_REFER
    if abi >= 3:
        rights |= LL_TRUNCATE
    if abi >= 5:
        rights |= LL_IOCTL_DEV
    return rights


def _ancestors(path: str) -> set[str]:
    parts = path.strip("/").split("/")
    return {"/" + "/".join(parts[:i]) for i in range(len(parts))}


def readable_roots(hidden: list[str]) -> list[str]:
    """Paths whose trees stay readable: all of `/` except the hidden trees (siblings split out)."""
    hidden_set = set(hidden)
    around = set().union(*(_ancestors(h) for h in hidden)) if hidden else set()
    roots: list[str] = []
    pending = ["/"]
    while pending:
        directory = pending.pop()
        if directory not in around:
            roots.append(directory)
            continue
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            child = os.path.join(directory, name)
            if child not in hidden_set:
                pending.append(child)
    return roots


def restrict_paths(abi: int, read: list[str], write: list[str]) -> None:
    """Landlock: `read` trees readable, `write` trees writable, everything else denied."""
    arch = ARCHES[os.uname().machine]
    handled = _handled(abi)
    attr = struct.pack("=Q", handled)
    ruleset = _libc.syscall(arch[3], attr, ctypes.c_size_t(len(attr)), 0)
    if ruleset < 0:
        _fail("landlock_create_ruleset")
    try:
        for paths, rights in ((read, LL_READ), (write, handled)):
            for path in paths:
                _add_rule(arch[3] + 1, int(ruleset), path, rights)
        if _libc.syscall(arch[3] + 2, int(ruleset), 0) != 0:
            _fail("landlock_restrict_self")
    finally:
        os.close(int(ruleset))


def _add_rule(nr: int, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # gone since it was listed: nothing to grant
    try:
        if not os.path.isdir(path):
            rights &= LL_FILE_RIGHTS
        beneath = struct.pack("=Qi", rights, fd)
        if _libc.syscall(nr, ruleset, LL_RULE_PATH_BENEATH, beneath, 0) != 0:
            _fail(f"landlock_add_rule {path}")
    finally:
        os.close(fd)


def main(argv: list[str]) -> None:
    """Parse the arguments, confine this process, exec the command."""
    if argv == ["--probe"]:
        import json  # only the probe prints JSON; commands should not pay for the import

        print(json.dumps({"seccomp": network_filter() is not None, "landlock": landlock_abi()}))
        return
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    no_net = False
    ids: dict[str, int] = {}
    write: list[str] = []
    hidden: list[str] = []
    while options:
        flag = options.pop(0)
        if flag == "--no-net":
            no_net = True
        elif flag in ("--uid", "--gid"):
            ids[flag] = int(options.pop(0))
        elif flag in ("--rw", "--hide"):
            (write if flag == "--rw" else hidden).append(options.pop(0))
        else:
            raise OSError(errno.EINVAL, f"unknown option {flag}")
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _fail("no_new_privs")
    if write or hidden:
        abi = landlock_abi()
        if abi:
            restrict_paths(abi, readable_roots(hidden), write)
    if no_net:
        deny_network()
    if ids:
        # Groups first, while still allowed to; a uid switch away from root drops every
        # capability, and no_new_privs keeps setuid programs from giving any back.
        os.setgroups([])
        os.setresgid(ids["--gid"], ids["--gid"], ids["--gid"])
        os.setresuid(ids["--uid"], ids["--uid"], ids["--uid"])
    # Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive exec: the command must
    # die of them as it would anywhere else (`yes | head`, a write past RLIMIT_FSIZE).
    for sig in (_signal.SIGPIPE, _signal.SIGXFSZ):
        _signal.signal(sig, _signal.SIG_DFL)
    os.execv(command[0], command)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except OSError as exc:
        print(f"piloto sandbox: could not confine the command: {exc}", file=sys.stderr)
        sys.exit(126)
