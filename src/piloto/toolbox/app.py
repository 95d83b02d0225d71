"""The toolbox's HTTP API: /health, /system/info, /command."""

# No `from __future__ import annotations` here: the request model is built per app (its limits
# come from the config) and FastAPI must see it as a real class, not a string.
import asyncio
import hmac
import logging
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator

from piloto import __version__
from piloto.policy import check_command
from piloto.toolbox.config import ToolboxConfig
from piloto.toolbox.execute import run_in_sandbox
from piloto.toolbox.sandbox import SandboxKind, prepare_sandbox
from piloto.toolbox.sysinfo import collect_system_info

log = logging.getLogger("piloto.toolbox")
T = TypeVar("T")
_DISCONNECT_POLL_S = 0.25

DESCRIPTION = """\
Piloto's bundled tool service: facts about the host and sandboxed shell commands.

`/health` needs no token, so monitors and Piloto's service registry can check liveness; it
tells what protects commands but nothing about the host. `/system/info` and `/command` need
`Authorization: Bearer TOKEN` when the service has a token (it must, unless bound to loopback).
`/command` does not honour `Idempotency-Key`: a retried call runs the command again.

Commands run in bubblewrap where it works: a read-only system, a private size-capped `/tmp`, the
work directory with a disk quota, Piloto's data out of sight, no network unless configured.
Where it cannot run, only commands the policy rates `read` run (403 `sandbox_required` for the
rest) unless the toolbox was started with `--unsandboxed`; `/health` says which (`commands`).
"""


class Health(BaseModel):
    """Liveness and an honest account of the sandbox."""

    status: Literal["ok"]
    version: str
    sandbox: SandboxKind
    commands: Literal["all", "read-only"] = Field(
        description="read-only: without bubblewrap only commands the policy rates `read` run."
    )
    protections: list[str]
    idempotency: bool
    network: bool
    auth_required: bool
    output_cap_bytes: int
    default_timeout_s: float
    max_timeout_s: float
    tmp_bytes: int
    disk_quota_bytes: int


class OsInfo(BaseModel):
    platform: str
    release: str
    pretty_name: str | None


class Memory(BaseModel):
    total_bytes: int
    available_bytes: int


class Disk(BaseModel):
    mount: str
    device: str
    fstype: str
    total_bytes: int
    used_bytes: int
    free_bytes: int


class SystemInfo(BaseModel):
    """Read-only facts about the host."""

    hostname: str
    os: OsInfo
    uptime_s: float | None
    load: dict[str, float] | None = Field(description="Load averages keyed 1m, 5m, 15m.")
    memory: Memory | None
    disks: list[Disk]


class CommandResponse(BaseModel):
    """The outcome of one command. exit_code is null when it timed out (and was killed)."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: int
    timed_out: bool
    truncated: bool
    quota_exceeded: bool = Field(
        description="The command grew the work directory past its disk quota."
    )


class CwdError(ValueError):
    """The requested working directory is not inside the work directory."""


def resolve_cwd(workdir: Path, cwd: str | None) -> Path:
    """Resolve `cwd` (relative to workdir, or absolute) and insist it stays inside workdir."""
    if cwd is None:
        return workdir
    candidate = Path(cwd)
    if not candidate.is_absolute():
        candidate = workdir / candidate
    # realpath follows every symlink, so neither `..` nor a link can lead outside.
    real = Path(os.path.realpath(candidate))
    if real != workdir and not real.is_relative_to(workdir):
        raise CwdError(f"cwd {cwd!r} is outside the work directory {str(workdir)!r}.")
    if not real.is_dir():
        raise CwdError(f"cwd {cwd!r} is not an existing directory inside the work directory.")
    return real


async def _unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Await `work`, cancelling it when the client goes away: a caller that abandoned the
    call (Piloto cancelling a run) must not leave the command running."""
    task = asyncio.create_task(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=_DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                log.info("client went away; killing its command")
                task.cancel()
                await asyncio.wait({task})
                raise HTTPException(status_code=499, detail="client closed the request")
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})


def create_toolbox_app(config: ToolboxConfig) -> FastAPI:
    """Build the toolbox app: validates the config, prepares the work directory and sandbox."""
    config.validate()
    sandbox = prepare_sandbox(config)
    app = FastAPI(title="Piloto toolbox", version=__version__, description=DESCRIPTION)
    app.state.toolbox_config = config
    app.state.sandbox = sandbox
    read_only = sandbox.kind != "bubblewrap" and not config.unsandboxed
    if read_only:
        log.warning(
            "commands are not sandboxed (%s): only read-only commands will run",
            sandbox.fallback_reason,
        )

    bearer = HTTPBearer(auto_error=False, description="The toolbox token.")

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        assert config.token is not None
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, config.token.encode()):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Missing or wrong token: send Authorization: Bearer TOKEN.",
                headers={"WWW-Authenticate": "Bearer"},
            )

    guarded = [Depends(require_token)] if config.token is not None else []

    class CommandRequest(BaseModel):
        """One shell command, run with bash -c inside the sandbox."""

        model_config = ConfigDict(extra="forbid")

        cmd: str = Field(min_length=1, max_length=config.max_command_length)
        cwd: str | None = Field(
            default=None, max_length=4096, description="Inside the work directory."
        )
        timeout_s: float | None = Field(
            default=None,
            gt=0,
            le=config.max_timeout_s,
            description=f"Seconds; default {config.default_timeout_s}.",
        )

        @field_validator("cmd")
        @classmethod
        def _cmd_is_runnable(cls, value: str) -> str:
            if not value.strip():
                raise ValueError("cmd is blank")
            if "\x00" in value:
                raise ValueError("cmd contains a NUL byte")
            return value

        @field_validator("cwd")
        @classmethod
        def _cwd_has_no_nul(cls, value: str | None) -> str | None:
            if value is not None and "\x00" in value:
                raise ValueError("cwd contains a NUL byte")
            return value

    @app.get(
        "/health",
        operation_id="health",
        response_model=Health,
        openapi_extra={"x-piloto-risk": "read"},
    )
    async def health() -> Health:
        """Liveness and the protections in force; no token needed."""
        return Health(
            status="ok",
            version=__version__,
            sandbox=sandbox.kind,
            commands="read-only" if read_only else "all",
            protections=sandbox.protections,
            idempotency=False,
            network=config.network,
            auth_required=config.token is not None,
            output_cap_bytes=config.output_cap_bytes,
            default_timeout_s=config.default_timeout_s,
            max_timeout_s=config.max_timeout_s,
            tmp_bytes=config.tmp_bytes,
            disk_quota_bytes=config.disk_bytes,
        )

    @app.get(
        "/system/info",
        operation_id="system_info",
        response_model=SystemInfo,
        dependencies=guarded,
        openapi_extra={"x-piloto-risk": "read"},
    )
    async def system_info() -> dict[str, Any]:
        """Hostname, OS, uptime, load, memory and disks."""
        # In a thread: statvfs on a hung network mount would otherwise freeze every request.
        return await asyncio.to_thread(collect_system_info)

    @app.post(
        "/command",
        operation_id="run_command",
        response_model=CommandResponse,
        dependencies=guarded,
        # The command field tells Piloto which argument its command policy must judge.
        openapi_extra={"x-piloto-risk": "write", "x-piloto-command-field": "cmd"},
        responses={
            400: {"description": "cwd outside the work directory"},
            403: {
                "description": "blocked by the command policy, or not `read` while commands "
                "are not sandboxed"
            },
        },
    )
    async def run_command(body: CommandRequest, request: Request) -> CommandResponse:
        """Run a shell command in the sandbox, after the command policy allows it."""
        decision = check_command(body.cmd)
        if not decision.allowed:
            log.info("command blocked by policy: %s", decision.reason)
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail={"error": "blocked", "reason": decision.reason},
            )
        if read_only and decision.risk != "read":
            log.info("command refused: not read-only and not sandboxed")
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail={
                    "error": "sandbox_required",
                    "reason": unsandboxed_refusal(decision.risk, sandbox.fallback_reason),
                },
            )
        try:
            cwd = await asyncio.to_thread(resolve_cwd, sandbox.workdir, body.cwd)
        except CwdError as exc:
            raise HTTPException(
                status_code=status.HTTP_400_BAD_REQUEST,
                detail={"error": "bad_cwd", "reason": str(exc)},
            ) from exc
        timeout_s = body.timeout_s if body.timeout_s is not None else config.default_timeout_s
        try:
            result = await _unless_disconnected(
                request,
                run_in_sandbox(
                    sandbox,
                    body.cmd,
                    cwd=cwd,
                    timeout_s=timeout_s,
                    output_cap_bytes=config.output_cap_bytes,
                ),
            )
        except OSError as exc:
            log.error("could not start a command: %s", exc)
            raise HTTPException(
                status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
                detail={"error": "spawn_failed", "reason": f"could not start the command: {exc}"},
            ) from exc
        log.info(
            "command exit=%s timed_out=%s duration_ms=%d cmd=%.200r",
            result.exit_code,
            result.timed_out,
            result.duration_ms,
            body.cmd,
        )
        return CommandResponse(
            exit_code=result.exit_code,
            stdout=result.stdout,
            stderr=result.stderr,
            duration_ms=result.duration_ms,
            timed_out=result.timed_out,
            truncated=result.truncated,
            quota_exceeded=result.quota_exceeded,
        )

    return app


def unsandboxed_refusal(risk: str, why: str | None) -> str:
    """Why a command was refused without a sandbox, and the two ways to allow it."""
    return (
        f"Not run: commands are not sandboxed here ({why or 'bubblewrap is unavailable'}), so "
        f"this toolbox only runs read-only commands and this one is rated {risk}. To run it, "
        "install bubblewrap and allow unprivileged user namespaces, then restart the toolbox; "
        "or, accepting that commands can then touch anything the toolbox's user can, have an "
        "admin set PILOTO_TOOLBOX_UNSANDBOXED=1 (piloto toolbox --unsandboxed)."
    )
