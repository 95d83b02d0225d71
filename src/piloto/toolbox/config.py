"""Configuration of the bundled tool service."""

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SandboxChoice = Literal["auto", "bubblewrap", "rlimits"]

GiB = 1024**3
MiB = 1024**2

# The conventional unprivileged account; commands run as it when the service runs as root.
NOBODY = 65534


class ToolboxConfigError(ValueError):
    """The configuration cannot be used; the message says what to change."""


@dataclass(frozen=True, slots=True)
class ToolboxConfig:
    """Everything the toolbox needs; nothing is read from the environment behind your back."""

    host: str = "127.0.0.1"
    port: int = 8787
    # repr=False keeps the token out of logs and tracebacks that print the config.
    token: str | None = field(default=None, repr=False)
    workdir: Path | None = None
    sandbox: SandboxChoice = "auto"
    network: bool = False
    output_cap_bytes: int = 64 * 1024
    default_timeout_s: float = 30.0
    max_timeout_s: float = 600.0
    max_command_length: int = 16 * 1024
    rlimit_cpu_s: int = 600
    rlimit_as_bytes: int = 2 * GiB
    rlimit_nproc: int = 256
    rlimit_fsize_bytes: int = 256 * MiB
    # Only used when the service runs as root: root ignores RLIMIT_NPROC and can read any file,
    # so commands run as this uid/gid instead. None keeps root (not recommended).
    sandbox_uid: int | None = NOBODY
    sandbox_gid: int | None = NOBODY
    # None: look up `bwrap` on PATH.
    bwrap_path: str | None = None
    # Size of the private /tmp (and /var/tmp) under bubblewrap: tmpfs, so it is memory.
    tmp_bytes: int = 64 * MiB
    # What the work directory may hold; enforced by RLIMIT_FSIZE and a watchdog (see quota.py).
    disk_bytes: int = 512 * MiB
    # Directories and files commands must never see (Piloto's data directory, secrets).
    hidden_paths: tuple[Path, ...] = ()
    # Without bubblewrap only `read` commands run, unless an admin opts in with this.
    unsandboxed: bool = False

    def validate(self) -> None:
        """Raise ToolboxConfigError with a readable message when the config is unsafe or wrong."""
        if self.token is None and not is_loopback(self.host):
            raise ToolboxConfigError(
                f"Refusing to serve the toolbox on {self.host!r} without a token: anyone who "
                "can reach it could run commands. Set a token (--token) or bind to 127.0.0.1."
            )
        if self.token is not None and not self.token.strip():
            raise ToolboxConfigError("The toolbox token is empty; give a real secret or none.")
        if not 0 < self.default_timeout_s <= self.max_timeout_s:
            raise ToolboxConfigError(
                f"default_timeout_s ({self.default_timeout_s}) must be in (0, max_timeout_s "
                f"= {self.max_timeout_s}]."
            )
        if self.output_cap_bytes <= 0 or self.max_command_length <= 0:
            raise ToolboxConfigError("output_cap_bytes and max_command_length must be positive.")
        if not 0 <= self.port <= 65535:
            raise ToolboxConfigError(f"Port {self.port} is not a TCP port (0-65535).")
        for name in (
            "rlimit_cpu_s",
            "rlimit_as_bytes",
            "rlimit_nproc",
            "rlimit_fsize_bytes",
            "tmp_bytes",
            "disk_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ToolboxConfigError(f"{name} must be positive.")
        workdir = self.resolved_workdir()
        for hidden in self.resolved_hidden_paths():
            if hidden == Path("/") or workdir == hidden or hidden.is_relative_to(workdir):
                raise ToolboxConfigError(
                    f"The hidden path {str(hidden)!r} is the root, the work directory or inside "
                    f"it ({str(workdir)!r}); commands could not work there. Choose a work "
                    "directory outside what must stay hidden, or hide less."
                )

    def resolved_hidden_paths(self) -> tuple[Path, ...]:
        """The hidden paths, absolute with symlinks resolved, duplicates removed."""
        seen: dict[Path, None] = {}
        for path in self.hidden_paths:
            seen[Path(os.path.realpath(path.expanduser()))] = None
        return tuple(seen)

    def resolved_workdir(self) -> Path:
        """The work directory as an absolute path with symlinks resolved (not created)."""
        base = self.workdir if self.workdir is not None else default_data_dir() / "toolbox-work"
        return Path(os.path.realpath(base.expanduser()))


def default_data_dir() -> Path:
    """Piloto's data directory: $PILOTO_DATA_DIR, else $XDG_DATA_HOME/piloto."""
    explicit = os.environ.get("PILOTO_DATA_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "piloto"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (IPv4 127/8, IPv6 ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
