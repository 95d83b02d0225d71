"""Run one command in a sandbox: asyncio subprocess, capped output, a timeout that kills the tree."""

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from piloto.toolbox import quota
from piloto.toolbox.sandbox import Sandbox

log = logging.getLogger("piloto.toolbox")

# How long to wait for the output pipes to close once the command's processes were killed.
_DRAIN_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What `/command` answers."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: int
    timed_out: bool
    truncated: bool
    # The command grew the work directory past its quota (and was stopped if still running).
    quota_exceeded: bool = False


class _Capture:
    """Keeps the first `cap` bytes of a stream and drops the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        if len(chunk) > room:
            self.truncated = True

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class _CommandProtocol(asyncio.SubprocessProtocol):
    """Collects output as it arrives (so the child never blocks on a full pipe) and tells
    process exit apart from pipe closure: a background child can hold the pipes open after
    the shell exits, and `Process.wait()` would wait for both."""

    def __init__(self, cap: int, loop: asyncio.AbstractEventLoop) -> None:
        self.out = _Capture(cap)
        self.err = _Capture(cap)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.pipes_closed: asyncio.Future[None] = loop.create_future()
        self._open = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        (self.out if fd == 1 else self.err).feed(bytes(data))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        if not self._open and not self.pipes_closed.done():
            self.pipes_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def run_in_sandbox(
    sandbox: Sandbox,
    cmd: str,
    *,
    cwd: Path | None = None,
    timeout_s: float,
    output_cap_bytes: int,
) -> CommandResult:
    """Run `bash -c cmd` in the sandbox; nothing it started survives the call."""
    used_before = await asyncio.to_thread(quota.usage_bytes, sandbox.workdir)
    fsize = quota.fsize_for(used_before, sandbox.disk_bytes, sandbox.limits.fsize_bytes)
    limits = dataclasses.replace(sandbox.limits, fsize_bytes=fsize)
    spec = sandbox.spawn_spec(cmd, cwd if cwd is not None else sandbox.workdir, limits)
    # Already over (a smaller quota since, or files from before it): what is there may stay,
    # and `rm` must still work; only growth past this point is stopped.
    allowed = max(sandbox.disk_bytes, used_before)
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    extra: dict[str, Any] = {}
    if spec.preexec is not None:
        extra["preexec_fn"] = spec.preexec
    if spec.user is not None:
        # Only when needed: uvloop (uvicorn's default loop) rejects these keywords outright.
        extra.update(user=spec.user, group=spec.group, extra_groups=[])
    transport, proto = await loop.subprocess_exec(
        lambda: _CommandProtocol(output_cap_bytes, loop),
        *spec.argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=spec.cwd,
        env=spec.env,
        # A new session makes the command a process-group leader: killpg reaches its children.
        start_new_session=True,
        **extra,
    )
    pid = transport.get_pid()
    timed_out = False
    overflow: list[int] = []

    def over_quota(used: int) -> None:
        overflow.append(used)
        _kill_group(pid)

    watchdog = asyncio.create_task(quota.watch(sandbox.workdir, allowed, over_quota))
    try:
        try:
            await asyncio.wait_for(asyncio.shield(proto.exited), timeout_s)
        except TimeoutError:
            timed_out = True
        # Always, not only on timeout: `cmd &` leftovers die with the command (under bubblewrap
        # the PID namespace already saw to that; this is the same rule without it).
        _kill_group(pid)
        await proto.exited
        try:
            await asyncio.wait_for(asyncio.shield(proto.pipes_closed), _DRAIN_GRACE_S)
        except TimeoutError:
            # Only possible without bubblewrap: a process left the group (setsid) with our pipes.
            log.warning("a process escaped the command's process group; output cut short")
    finally:
        watchdog.cancel()
        if transport.get_returncode() is None:  # cancelled: never leave the tree running
            _kill_group(pid)
        transport.close()
    await asyncio.wait({watchdog})
    if not watchdog.cancelled() and watchdog.exception() is not None:
        log.error("the disk quota watchdog failed: %r", watchdog.exception())
    stderr = proto.err.text()
    stopped = bool(overflow)
    if not overflow:
        # Growth since the watchdog's last look counts too.
        used_after = await asyncio.to_thread(quota.usage_bytes, sandbox.workdir)
        if used_after > allowed:
            overflow.append(used_after)
    if overflow:
        stderr += _quota_message(overflow[0], sandbox.disk_bytes, stopped=stopped)
    code = transport.get_returncode()
    # A signal death reads like a shell reports it: 128 + signal number.
    exit_code = None if timed_out or code is None else (code if code >= 0 else 128 - code)
    return CommandResult(
        exit_code=exit_code,
        stdout=proto.out.text(),
        stderr=stderr,
        duration_ms=int((time.monotonic() - started) * 1000),
        timed_out=timed_out,
        truncated=proto.out.truncated or proto.err.truncated,
        quota_exceeded=bool(overflow),
    )


def _quota_message(used: int, limit: int, *, stopped: bool) -> str:
    action = "the command was stopped" if stopped else "the command had finished"
    return (
        f"\npiloto: the work directory holds {used // quota.MiB} MiB, over its quota of "
        f"{limit // quota.MiB} MiB; {action}. Delete files there (rm) to free space, or ask "
        "an admin to raise PILOTO_TOOLBOX_DISK_MB.\n"
    )
