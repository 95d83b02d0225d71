"""Paths the policy protects: the root, system directories, system files and disks."""

from __future__ import annotations

import fnmatch
import posixpath
import re

# `~` is resolved to this sentinel so that `~/..` still normalises to /home.
HOME = "/home/~"

PROTECTED_DIRS = frozenset(
    {
        "/",
        HOME,
        "/home",
        "/root",
        "/etc",
        "/usr",
        "/var",
        "/boot",
        "/bin",
        "/sbin",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/opt",
        "/srv",
        "/sys",
        "/proc",
        "/dev",
        "/run",
        "/mnt",
        "/media",
        "/snap",
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/lib64",
        "/usr/local",
        "/usr/share",
        "/usr/include",
        "/var/lib",
        "/etc/ssh",
        "/etc/systemd",
    }
)

SYSTEM_FILES = frozenset(
    {
        "/etc/passwd",
        "/etc/shadow",
        "/etc/group",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/fstab",
        "/etc/crypttab",
        "/etc/ssh/sshd_config",
        "/etc/pam.conf",
        "/etc/ld.so.preload",
        "/etc/ld.so.conf",
        "/etc/inittab",
        "/etc/default/grub",
        "/etc/login.defs",
        "/etc/securetty",
        "/etc/nsswitch.conf",
        "/etc/security/access.conf",
        "/root/.ssh/authorized_keys",
        "/proc/sysrq-trigger",
        "/etc/passwd-",
        "/etc/shadow-",
    }
)
SYSTEM_PREFIXES = ("/boot/", "/etc/sudoers.d/", "/etc/pam.d/", "/etc/ssh/sshd_config.d/")

_DISK = re.compile(
    r"/dev/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|dm-\d|md\d|loop\d|sr\d|nbd\d"
    r"|mapper/|disk/|root$|mem$|kmem$|port$)"
)
_GLOB = re.compile(r"[*?\[]")
_VAR_PREFIX = re.compile(r"^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")
_HOME_VARS = ("$HOME", "${HOME}")

_LABELS = {
    "/": "the root filesystem",
    HOME: "the home directory (~)",
    "/home": "every user's home directory (/home)",
    "/etc": "the system configuration (/etc)",
    "/boot": "the boot loader and kernels (/boot)",
    "/dev": "the device files (/dev)",
    "/root": "root's home directory (/root)",
}


def resolve(word: str, cwd: str | None = None) -> str:
    """Normalise a path argument: `~`, `$HOME`, `//`, `/./`, `..`, relative to a known cwd."""
    path = word.strip()
    if not path:
        return path
    for var in _HOME_VARS:
        if path == var or path.startswith(var + "/"):
            path = "~" + path[len(var) :]
    if path == "~" or path.startswith("~/"):
        path = HOME + path[1:]
    elif path.startswith("~"):
        user, _, rest = path[1:].partition("/")
        path = ("/root" if user == "root" else f"/home/{user}") + ("/" + rest if rest else "")
    if not path.startswith("/"):
        if cwd is None:
            return path
        path = posixpath.join(cwd, path)
    path = posixpath.normpath(path)
    return "/" + path.lstrip("/")


def if_variable_empty(word: str) -> tuple[str, str] | None:
    """For `$DIR/…`: (the variable, the path it becomes when the variable is empty or unset)."""
    match = _VAR_PREFIX.match(word)
    if not match or word.startswith(_HOME_VARS):
        return None
    rest = word[match.end() :]
    if not rest.startswith("/"):
        return None
    return match.group(0), resolve(rest)


def is_glob(path: str) -> bool:
    """Whether the path has glob characters the shell would expand."""
    return bool(_GLOB.search(path))


def protected_dir(path: str) -> str | None:
    """The protected directory the path is, names by glob, or empties with `dir/*`; else None."""
    if path in PROTECTED_DIRS:
        return path
    if is_glob(path) and path.startswith("/"):  # a relative glob's directory is not known
        parent, _, leaf = path.rpartition("/")
        if (parent in PROTECTED_DIRS or (parent == "" and leaf)) and re.fullmatch(
            r"[*?.\[\]{}]*", leaf
        ):
            return parent or "/"
        for protected in sorted(PROTECTED_DIRS):
            if fnmatch.fnmatchcase(protected, path):
                return protected
    return None


def system_file(path: str) -> str | None:
    """The system file (passwd, shadow, sudoers, fstab, /boot/…) the path names, or None."""
    if path in SYSTEM_FILES or path.startswith(SYSTEM_PREFIXES) or path == "/boot":
        return path
    if is_glob(path) and path.startswith("/"):
        for candidate in sorted(SYSTEM_FILES):
            if fnmatch.fnmatchcase(candidate, path):
                return candidate
        for prefix in SYSTEM_PREFIXES:
            if fnmatch.fnmatchcase(prefix + "x", path) or fnmatch.fnmatchcase(prefix[:-1], path):
                return prefix[:-1]
    return None


def disk_device(path: str) -> str | None:
    """The disk or memory device (/dev/sda, /dev/nvme0n1, /dev/mem, …) the path names, or None."""
    if _DISK.match(path):
        return path
    if path.startswith("/dev/") and is_glob(path):
        for sample in ("/dev/sda", "/dev/nvme0n1", "/dev/vda", "/dev/mem"):
            if fnmatch.fnmatchcase(sample, path):
                return path
    return None


def label(path: str) -> str:
    """How a person would name a protected directory in a sentence."""
    return _LABELS.get(path, f"the system directory {path}")
