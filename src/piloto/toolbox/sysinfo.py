"""Read-only facts about the host, from /proc and /etc (Linux)."""

import os
import platform
import socket
from pathlib import Path
from typing import Any

# Filesystems that hold no user data; listing them would drown the real disks.
PSEUDO_FS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs",
        "devpts", "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs",
        "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs",
        "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "fuse.gvfsd-fuse",
        "fuse.portal", "fuse.lxcfs",
    }
)  # fmt: skip


def collect_system_info() -> dict[str, Any]:
    """Hostname, OS, uptime, load, memory and disks. Blocking: call it in a thread."""
    return {
        "hostname": socket.gethostname(),
        "os": {
            "platform": platform.system(),
            "release": platform.release(),
            "pretty_name": os_pretty_name(),
        },
        "uptime_s": uptime_s(),
        "load": load_average(),
        "memory": memory(),
        "disks": disks(),
    }


def os_pretty_name(path: Path = Path("/etc/os-release")) -> str | None:
    """PRETTY_NAME from os-release, or None when the file is absent."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "PRETTY_NAME":
            return value.strip().strip("\"'")
    return None


def uptime_s() -> float | None:
    """Seconds since boot."""
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def load_average() -> dict[str, float] | None:
    """1, 5 and 15 minute load averages."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return None
    return {"1m": one, "5m": five, "15m": fifteen}


def memory() -> dict[str, int] | None:
    """Total and available memory in bytes, from /proc/meminfo."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in lines:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    if "MemTotal" not in values:
        return None
    return {
        "total_bytes": values["MemTotal"],
        "available_bytes": values.get("MemAvailable", values.get("MemFree", 0)),
    }


def _unescape_mount(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as \\ooo octal escapes.
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def disks(mounts: Path = Path("/proc/mounts")) -> list[dict[str, Any]]:
    """Real mounted filesystems with their size in bytes; pseudo filesystems are skipped."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return []
    seen: set[str] = set()
    found: list[dict[str, Any]] = []
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        device, mount, fstype = _unescape_mount(parts[0]), _unescape_mount(parts[1]), parts[2]
        if fstype in PSEUDO_FS or mount in seen:
            continue
        try:
            st = os.statvfs(mount)
        except OSError:
            continue
        if st.f_blocks == 0:
            continue
        seen.add(mount)
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        found.append(
            {
                "mount": mount,
                "device": device,
                "fstype": fstype,
                "total_bytes": total,
                "used_bytes": (st.f_blocks - st.f_bfree) * st.f_frsize,
                "free_bytes": free,
            }
        )
    return found
