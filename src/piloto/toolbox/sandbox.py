"""How a command is confined: bubblewrap namespaces where they work, rlimits always."""

import dataclasses
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from piloto.toolbox.bwrap import bwrap_argv, hide_args
from piloto.toolbox.config import ToolboxConfig, ToolboxConfigError

log = logging.getLogger("piloto.toolbox")

SandboxKind = Literal["bubblewrap", "rlimits"]

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONFINE_SCRIPT = Path(__file__).with_name("confine.py")
# Under rlimits the host's /tmp is shared: temporary files go to the work directory instead,
# where the disk quota counts them.
RLIMITS_TMPDIR = ".tmp"
WRITABLE_DEVICES = (
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/random",
    "/dev/urandom",
)


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
    tmp_bytes: int = 64 * 1024**2
    disk_bytes: int = 512 * 1024**2
    # Resolved, existing paths commands must not see, and bwrap's arguments that cover them.
    hidden: tuple[Path, ...] = ()
    hide_args: tuple[str, ...] = ()
    # rlimits only: the confine.py prefix (seccomp for "no network", Landlock for paths) and
    # what it could switch on here.
    confine: tuple[str, ...] | None = None
    seccomp: bool = False
    landlock: bool = False
    # Why this is not bubblewrap: the probe's answer, or that rlimits was chosen.
    fallback_reason: str | None = None

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
            if self.hidden:
                found.append("hidden data directory")
        else:
            if self.landlock:
                found.append("landlock: writes only in the work directory")
                if self.hidden:
                    found.append("hidden data directory")
            if self.seccomp and not self.network:
                found.append("no network")
        if self.command_uid != 0:
            found.append("unprivileged user")
        found += ["rlimit cpu", "rlimit as"]
        # The kernel never enforces RLIMIT_NPROC for uid 0, so claiming it would be a lie.
        if self.command_uid != 0:
            found.append("rlimit nproc")
        found += ["rlimit fsize", "disk quota", "scrubbed environment", "process group"]
        found += ["timeout", "output cap"]
        return found

    def env(self) -> dict[str, str]:
        """The whole environment a command sees."""
        env = {"PATH": SAFE_PATH, "HOME": str(self.workdir), "LANG": "C.UTF-8", "TERM": "dumb"}
        if self.kind == "rlimits":
            env["TMPDIR"] = str(self.workdir / RLIMITS_TMPDIR)
        return env

    def spawn_spec(self, cmd: str, cwd: Path, limits: Rlimits | None = None) -> SpawnSpec:
        """Build the argv and process settings that run `bash -c cmd` in `cwd` (inside workdir);
        `limits` replaces the sandbox's own for this command (the quota lowers fsize)."""
        limits = limits if limits is not None else self.limits
        inner: list[str] = []
        confined = self.kind == "rlimits" and self.confine is not None
        if confined:
            # First, while still the service's uid: the filters then survive the uid switch.
            assert self.confine is not None
            inner += [*self.confine, *self._confine_options()]
        user = group = None
        if self.run_as and self.setpriv:
            uid, gid = self.run_as
            inner += ["--"] if confined else []
            inner += [self.setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
            inner += ["--inh-caps=-all", "--bounding-set=-all", "--"]
        elif self.run_as and confined:
            # No setpriv: confine.py switches users itself, after its filters are in place
            # (the interpreter it runs in may not even be readable by the unprivileged user).
            inner += ["--uid", str(self.run_as[0]), "--gid", str(self.run_as[1]), "--"]
        elif self.run_as:
            user, group = self.run_as  # rlimits only: bubblewrap never gets here without setpriv
        elif confined:
            inner.append("--")
        if self.prlimit:
            inner += limits.prlimit_args(self.prlimit)
        inner += [self.bash, "-c", cmd]
        preexec = None if self.prlimit else limits.apply
        if self.kind == "rlimits":
            return SpawnSpec(inner, self.env(), str(cwd), preexec, user, group)
        # bwrap keeps the service's uid so it can bind any work directory; the switch to the
        # unprivileged user happens inside, right before bash.
        return SpawnSpec([*bwrap_argv(self, cwd), *inner], self.env(), "/", preexec, None, None)

    def _confine_options(self) -> list[str]:
        options: list[str] = []
        if self.seccomp and not self.network:
            options.append("--no-net")
        if self.landlock:
            # Devices one by one: all of /dev would include /dev/shm, memory anyone could fill.
            for writable in (self.workdir, *WRITABLE_DEVICES):
                options += ["--rw", str(writable)]
            for hidden in self.hidden:
                options += ["--hide", str(hidden)]
        return options


def prepare_sandbox(config: ToolboxConfig) -> Sandbox:
    """Create the work directory and choose the sandbox (probing bubblewrap once)."""
    base = _rlimits_sandbox(config)
    reason = "the toolbox was started with sandbox rlimits"
    if config.sandbox != "rlimits":
        candidate, problem = _bubblewrap_sandbox(base, config)
        if candidate is not None and problem is None:
            return candidate
        if config.sandbox == "bubblewrap":
            raise SandboxUnavailable(
                f"bubblewrap was requested but cannot run here: {problem}. Install bubblewrap, "
                "allow user namespaces, or choose sandbox='rlimits' (weaker)."
            )
        log.warning("bubblewrap unusable (%s); commands run with rlimits only", problem)
        reason = f"bubblewrap cannot run here: {problem}"
    sandbox = dataclasses.replace(_confined(base), fallback_reason=reason)
    if base.run_as is not None:
        _lock_hidden(sandbox.hidden, sandbox.workdir)
    elif sandbox.command_uid == os.geteuid():
        # Same uid as the command: /proc/<this pid>/environ (tokens, keys) would be readable.
        # A non-dumpable process's /proc files belong to root instead.
        _set_non_dumpable()
    return sandbox


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
    tmpdir = workdir / RLIMITS_TMPDIR
    tmpdir.mkdir(exist_ok=True)
    if run_as is not None:
        os.chown(tmpdir, *run_as)
    hidden = tuple(path for path in config.resolved_hidden_paths() if path.exists())
    return Sandbox(
        kind="rlimits",
        workdir=workdir,
        limits=limits,
        network=config.network,
        bash=bash,
        run_as=run_as,
        setpriv=shutil.which("setpriv"),
        prlimit=shutil.which("prlimit"),
        tmp_bytes=config.tmp_bytes,
        disk_bytes=config.disk_bytes,
        hidden=hidden,
        hide_args=hide_args(hidden),
    )


def _confined(base: Sandbox) -> Sandbox:
    """The rlimits sandbox with what confine.py can add here (seccomp, Landlock), if it works."""
    features = _confine_features()
    if features is None:
        return base
    candidate = dataclasses.replace(
        base,
        confine=(sys.executable, "-I", "-S", str(CONFINE_SCRIPT)),
        seccomp=bool(features.get("seccomp")),
        landlock=bool(features.get("landlock")),
    )
    problem = probe(candidate)
    if problem is None:
        return candidate
    log.warning("seccomp/Landlock unusable (%s); commands run without them", problem)
    return base


_features_cache: list[dict[str, object] | None] = []


def _confine_features() -> dict[str, object] | None:
    if not _features_cache:
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-S", str(CONFINE_SCRIPT), "--probe"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=15,
                check=True,
            )
            found = json.loads(done.stdout)
            _features_cache.append(found if isinstance(found, dict) else None)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            log.warning("cannot probe seccomp/Landlock: %s", exc)
            _features_cache.append(None)
    return _features_cache[0]


def _lock_hidden(hidden: tuple[Path, ...], workdir: Path) -> None:
    """Take "other" permissions off hidden paths: commands run as an unprivileged uid, for
    which that is what hides them where Landlock is missing. The work directory's ancestors
    keep only the search bit, so it stays reachable without its siblings being listable."""
    for path in hidden:
        if path.is_dir() and not path.is_symlink():
            for entry in path.iterdir():
                if entry.is_symlink() or workdir == entry or workdir.is_relative_to(entry):
                    continue
                entry.chmod(entry.stat().st_mode & 0o7770)
        keep = 0o001 if workdir.is_relative_to(path) else 0
        path.chmod((path.stat().st_mode & 0o7770) | keep)


def _set_non_dumpable() -> None:
    import ctypes  # only here: nothing else in the service needs it

    pr_set_dumpable = 4
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
        log.warning("could not make the service non-dumpable; commands may read its /proc")


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
