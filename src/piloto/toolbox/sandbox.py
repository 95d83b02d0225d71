"""How a command is confined: bubblewrap namespaces where they work, rlimits always."""

import dataclasses
import logging
import os
import resource
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from piloto.toolbox.config import ToolboxConfig, ToolboxConfigError

log = logging.getLogger("piloto.toolbox")

SandboxKind = Literal["bubblewrap", "rlimits"]

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SandboxUnavailable(RuntimeError):
    """bubblewrap was asked for explicitly but cannot run here."""


@dataclass(frozen=True, slots=True)
class Rlimits:
    """Per-process resource limits applied to every command."""

    cpu_s: int
    as_bytes: int
    nproc: int
    fsize_bytes: int

    def apply(self) -> None:
        """Set the limits on the current process (the fallback when `prlimit` is missing)."""
        # The hard CPU limit sits one second above the soft one: SIGXCPU first, then SIGKILL.
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_s, self.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (self.as_bytes, self.as_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (self.nproc, self.nproc))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.fsize_bytes, self.fsize_bytes))

    def prlimit_args(self, prlimit: str) -> list[str]:
        """The same limits as a `prlimit … --` command prefix."""
        return [
            prlimit,
            f"--cpu={self.cpu_s}:{self.cpu_s + 1}",
            f"--as={self.as_bytes}",
            f"--nproc={self.nproc}",
            f"--fsize={self.fsize_bytes}",
            "--",
        ]


@dataclass(frozen=True, slots=True)
class SpawnSpec:
    """Everything needed to start one sandboxed command."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    preexec: Callable[[], None] | None
    user: int | None
    group: int | None


@dataclass(frozen=True, slots=True)
class Sandbox:
    """A prepared sandbox: which kind, where commands work, as whom, and what protects them."""

    kind: SandboxKind
    workdir: Path
    limits: Rlimits
    network: bool
    bash: str
    # (uid, gid) the command runs as when the service itself runs as root; None: unchanged.
    run_as: tuple[int, int] | None
    bwrap: str | None = None
    # util-linux helpers. Exec-ing them costs less than a preexec_fn or a uid switch in Popen,
    # which both force a full fork() of this (large) process instead of vfork().
    setpriv: str | None = None
    prlimit: str | None = None

    @property
    def command_uid(self) -> int:
        """The real uid the command's processes run under (what RLIMIT_NPROC counts)."""
        return self.run_as[0] if self.run_as else os.geteuid()

    @property
    def protections(self) -> list[str]:
        """What actually protects the host in this sandbox; no more, no less."""
        found: list[str] = []
        if self.kind == "bubblewrap":
            found += ["namespaces", "read-only system", "private /tmp", "hidden home directories"]
            if not self.network:
                found.append("no network")
        if self.command_uid != 0:
            found.append("unprivileged user")
        found += ["rlimit cpu", "rlimit as"]
        # The kernel never enforces RLIMIT_NPROC for uid 0, so claiming it would be a lie.
        if self.command_uid != 0:
            found.append("rlimit nproc")
        found += ["rlimit fsize", "scrubbed environment", "process group", "timeout", "output cap"]
        return found

    def env(self) -> dict[str, str]:
        """The whole environment a command sees."""
        return {"PATH": SAFE_PATH, "HOME": str(self.workdir), "LANG": "C.UTF-8", "TERM": "dumb"}

    def spawn_spec(self, cmd: str, cwd: Path) -> SpawnSpec:
        """Build the argv and process settings that run `bash -c cmd` in `cwd` (inside workdir)."""
        inner: list[str] = []
        user = group = None
        if self.run_as and self.setpriv:
            uid, gid = self.run_as
            inner += [self.setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
            inner += ["--inh-caps=-all", "--bounding-set=-all", "--"]
        elif self.run_as:
            user, group = self.run_as  # rlimits only: bubblewrap never gets here without setpriv
        if self.prlimit:
            inner += self.limits.prlimit_args(self.prlimit)
        inner += [self.bash, "-c", cmd]
        preexec = None if self.prlimit else self.limits.apply
        if self.kind == "rlimits":
            return SpawnSpec(inner, self.env(), str(cwd), preexec, user, group)
        # bwrap keeps the service's uid so it can bind any work directory; the switch to the
        # unprivileged user happens inside, right before bash.
        return SpawnSpec([*self._bwrap_argv(cwd), *inner], self.env(), "/", preexec, None, None)

    def _bwrap_argv(self, cwd: Path) -> list[str]:
        assert self.bwrap is not None
        wd = str(self.workdir)
        argv = [self.bwrap, "--die-with-parent", "--new-session"]
        if self.run_as:
            # Root without a user namespace: bwrap is privileged, so setpriv can switch to a real
            # unprivileged uid, which RLIMIT_NPROC and file permissions then apply to. (In a user
            # namespace every uid would still be root outside.)
            argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
            if not self.network:
                argv.append("--unshare-net")
        else:
            argv.append("--unshare-all")
            if self.network:
                argv.append("--share-net")
            if os.geteuid() == 0:
                argv += ["--cap-drop", "ALL"]
        argv += ["--ro-bind", "/", "/", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]
        argv += ["--tmpfs", "/root", "--tmpfs", "/home"]
        if not self.network:
            # Host daemons' sockets live in /run; without a network there is no reason to see them.
            argv += ["--tmpfs", "/run"]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        # After the tmpfs mounts, so a work directory under /tmp or /root is still reachable.
        # Parents that only exist because of the bind would otherwise be created 0700, which
        # the unprivileged user could not traverse; existing directories are left as they are.
        for parent in reversed(self.workdir.parents[:-1]):
            argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--bind", wd, wd, "--chdir", str(cwd), "--clearenv"]
        for key, value in self.env().items():
            argv += ["--setenv", key, value]
        return argv


def prepare_sandbox(config: ToolboxConfig) -> Sandbox:
    """Create the work directory and choose the sandbox (probing bubblewrap once)."""
    base = _rlimits_sandbox(config)
    if config.sandbox == "rlimits":
        return base
    candidate, problem = _bubblewrap_sandbox(base, config)
    if candidate is not None and problem is None:
        return candidate
    if config.sandbox == "bubblewrap":
        raise SandboxUnavailable(
            f"bubblewrap was requested but cannot run here: {problem}. Install bubblewrap, allow "
            "user namespaces, or choose sandbox='rlimits' (weaker)."
        )
    log.warning("bubblewrap unusable (%s); commands run with rlimits only", problem)
    return base


def bubblewrap_problem(config: ToolboxConfig) -> str | None:
    """Why bubblewrap cannot confine commands for this config, or None when it can."""
    return _bubblewrap_sandbox(_rlimits_sandbox(config), config)[1]


def _rlimits_sandbox(config: ToolboxConfig) -> Sandbox:
    workdir = config.resolved_workdir()
    workdir.mkdir(parents=True, exist_ok=True)
    run_as: tuple[int, int] | None = None
    if os.geteuid() == 0 and config.sandbox_uid is not None:
        gid = config.sandbox_gid if config.sandbox_gid is not None else config.sandbox_uid
        run_as = (config.sandbox_uid, gid)
        st = workdir.stat()
        if (st.st_uid, st.st_gid) != run_as:
            # Commands run unprivileged, so the work directory must be theirs to write in.
            os.chown(workdir, *run_as)
    bash = shutil.which("bash")
    if bash is None:
        raise ToolboxConfigError("bash was not found on PATH; the toolbox runs commands with it.")
    limits = Rlimits(
        cpu_s=config.rlimit_cpu_s,
        as_bytes=config.rlimit_as_bytes,
        nproc=config.rlimit_nproc,
        fsize_bytes=config.rlimit_fsize_bytes,
    )
    return Sandbox(
        kind="rlimits",
        workdir=workdir,
        limits=limits,
        network=config.network,
        bash=bash,
        run_as=run_as,
        setpriv=shutil.which("setpriv"),
        prlimit=shutil.which("prlimit"),
    )


def _bubblewrap_sandbox(base: Sandbox, config: ToolboxConfig) -> tuple[Sandbox | None, str | None]:
    bwrap = config.bwrap_path or shutil.which("bwrap")
    if bwrap is None:
        return None, "bwrap was not found on PATH"
    # Without setpriv, bwrap as root can only pretend to switch users (a user namespace still
    # maps to uid 0 outside), so the command stays root, without capabilities, and says so.
    run_as = base.run_as if base.setpriv else None
    candidate = dataclasses.replace(base, kind="bubblewrap", bwrap=bwrap, run_as=run_as)
    return candidate, probe(candidate)


_probe_cache: dict[tuple[str, ...], str | None] = {}


def probe(sandbox: Sandbox) -> str | None:
    """Run `true` in the sandbox once per setup; None when it works, else why not."""
    spec = sandbox.spawn_spec("true", sandbox.workdir)
    key = (*spec.argv, str(sandbox.limits))
    if key not in _probe_cache:
        _probe_cache[key] = _run_probe(spec)
    return _probe_cache[key]


def _run_probe(spec: SpawnSpec) -> str | None:
    # bwrap can be installed yet unusable (no user namespaces in a container), so try it.
    try:
        done = subprocess.run(
            spec.argv,
            env=spec.env,
            cwd=spec.cwd,
            preexec_fn=spec.preexec,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()[:300]
        return f"exit {done.returncode}: {detail or 'no message'}"
    return None
