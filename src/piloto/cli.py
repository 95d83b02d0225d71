"""The ``piloto`` command: serve, toolbox, policy check, tokens, audit."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer

from piloto.settings import Settings
from piloto.store.db import Database

if TYPE_CHECKING:
    from piloto.policy import CommandLimits

app = typer.Typer(
    help="Piloto, a self-hosted operations copilot.", no_args_is_help=True, add_completion=False
)


@app.callback()
def _root() -> None:
    """Piloto, a self-hosted operations copilot."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default 127.0.0.1, or PILOTO_HOST)."),
    port: int = typer.Option(None, help="Port (default 8000, or PILOTO_PORT)."),
) -> None:
    """Start the Piloto server (API, UI, runner)."""
    import uvicorn

    from piloto.app import create_app
    from piloto.logs import configure_logging

    settings = Settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    configure_logging(settings.log_level)
    _preflight(settings)
    if not _is_loopback(settings.host):
        typer.secho(
            f"warning: binding {settings.host}: Piloto is reachable from other machines. "
            "Put it behind TLS and keep tokens secret.",
            fg="yellow",
            err=True,
        )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


def _preflight(settings: Settings) -> None:
    """Open the store before serving: a disk, database or key problem is one line, exit 2."""
    from piloto.boot import preflight
    from piloto.store.problems import StartupError

    try:
        asyncio.run(preflight(settings))
    except StartupError as exc:
        typer.secho(f"piloto: {exc.text(settings.language)}", fg="red", err=True)
        raise typer.Exit(2) from None


@app.command()
def toolbox(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8787, help="Port."),
    token: str = typer.Option(
        None, envvar="PILOTO_TOOLBOX_TOKEN", help="Bearer token callers must send."
    ),
    workdir: Path = typer.Option(
        None, help="The only directory commands may write (default: data dir)."
    ),
    sandbox: str = typer.Option("auto", help="auto, bubblewrap or rlimits."),
    network: str = typer.Option(
        "none",
        envvar="PILOTO_TOOLBOX_NETWORK",
        help="none (default: no network, loopback services included) or host (ping, curl, "
        "and every service on this host's loopback).",
    ),
    unsandboxed: bool = typer.Option(
        False,
        envvar="PILOTO_TOOLBOX_UNSANDBOXED",
        help="Without bubblewrap, run every allowed command, not only read-only ones.",
    ),
    tmp_mb: int = typer.Option(
        64, envvar="PILOTO_TOOLBOX_TMP_MB", help="Size of the private /tmp (MiB)."
    ),
    disk_mb: int = typer.Option(
        512, envvar="PILOTO_TOOLBOX_DISK_MB", help="Disk quota of the work directory (MiB)."
    ),
    hide: list[Path] = typer.Option(
        None, help="A path commands must never see (repeatable; default: the data dir)."
    ),
) -> None:
    """Start the bundled tool service (/health, /system/info, /command)."""
    from piloto.logs import configure_logging
    from piloto.toolbox.config import (
        SandboxChoice,
        ToolboxConfig,
        ToolboxConfigError,
        default_data_dir,
    )
    from piloto.toolbox.server import serve_toolbox

    configure_logging("INFO")
    if sandbox not in ("auto", "bubblewrap", "rlimits"):
        raise typer.BadParameter("sandbox must be auto, bubblewrap or rlimits")
    if network not in ("none", "host"):
        raise typer.BadParameter("network must be none or host")
    config = ToolboxConfig(
        host=host,
        port=port,
        token=token,
        workdir=workdir,
        sandbox=cast(SandboxChoice, sandbox),
        network=network == "host",
        unsandboxed=unsandboxed,
        tmp_bytes=tmp_mb * 1024**2,
        disk_bytes=disk_mb * 1024**2,
        hidden_paths=tuple(hide) if hide else (default_data_dir(),),
    )
    try:
        config.validate()
    except ToolboxConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    serve_toolbox(config)


policy_app = typer.Typer(help="The command policy.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("check")
def policy_check(
    command: str = typer.Argument(..., help="The shell command to judge."),
    allow: list[str] = typer.Option(
        None, "--allow", help="Allowlist programs, comma-separated or repeated (ls,cat)."
    ),
) -> None:
    """Print the decision and the risk with its reason; exit 0 when allowed, 1 when blocked."""
    from piloto.policy import check_command
    from piloto.policy.explain import summary

    decision = check_command(command, _policy_limits(allow))
    typer.echo(summary(decision.allowed, decision.risk, decision.risk_reason, decision.reason))
    raise typer.Exit(0 if decision.allowed else 1)


@policy_app.command("explain")
def policy_explain(
    command: str = typer.Argument(..., help="The shell command to take apart."),
    allow: list[str] = typer.Option(
        None, "--allow", help="Allowlist programs, comma-separated or repeated (ls,cat)."
    ),
) -> None:
    """Print the parsed simple commands, each with its risk and reason, then the decision."""
    from piloto.policy import check_command, explain

    for line in explain(command, _policy_limits(allow)):
        typer.echo(line)
    raise typer.Exit(0 if check_command(command, _policy_limits(allow)).allowed else 1)


def _policy_limits(allow: list[str] | None) -> CommandLimits:
    from piloto.policy import CommandLimits

    if not allow:
        return CommandLimits()
    names = {n.strip() for item in allow for n in item.split(",") if n.strip()}
    return CommandLimits(allowlist=frozenset(names))


token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="Who or what the token is for."),
    role: str = typer.Option("operator", help="admin, operator, viewer or alerts."),
) -> None:
    """Create a token and print it once."""
    from piloto.auth.tokens import create_token

    if role not in ("admin", "operator", "viewer", "alerts"):
        raise typer.BadParameter("role must be admin, operator, viewer or alerts")

    async def go() -> str:
        async with _database() as db, db.write() as conn:
            _, secret = await create_token(conn, name=name, role=role)  # type: ignore[arg-type]
            return secret

    typer.echo(asyncio.run(go()))


audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exit 1 at the first broken link."""
    from piloto.audit.log import verify_chain

    async def go() -> None:
        async with _database() as db, db.read() as conn:
            result = await verify_chain(conn)
        if result.ok:
            typer.echo(f"ok: {result.checked} records, chain intact")
            return
        typer.echo(f"broken: {result.reason}")
        raise typer.Exit(1)

    asyncio.run(go())


@audit_app.command("export")
def audit_export(
    since: str = typer.Option(None, help="Only records at or after this ISO date/time (UTC)."),
    output: Path = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
) -> None:
    """Write the audit trail as JSON Lines."""
    from piloto.audit.log import iter_audit

    since_ts = _parse_since(since) if since else None

    async def go() -> None:
        out = output.open("w") if output else sys.stdout
        try:
            async with _database() as db, db.read() as conn:
                async for rec in iter_audit(conn, since=since_ts):
                    out.write(json.dumps(rec, default=str) + "\n")
        finally:
            if output:
                out.close()

    asyncio.run(go())


def _parse_since(value: str) -> float:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("use an ISO date such as 2026-11-01 or 2026-11-01T12:00") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


services_app = typer.Typer(help="Tool services.", no_args_is_help=True)
app.add_typer(services_app, name="services")


@services_app.command("import")
def services_import(
    file: Path = typer.Argument(..., help="A Claude Desktop / Cursor JSON with mcpServers."),
    project: str = typer.Option(None, help="The project (name or id); global when omitted."),
    allow_offline: bool = typer.Option(False, help="Keep servers that cannot be reached now."),
) -> None:
    """Register each MCP server of the file; print each one's outcome (exit 1 if any failed)."""
    from piloto.app import process_secrets
    from piloto.boot import open_store
    from piloto.projects.repo import find_project_by_name, get_project
    from piloto.services.importer import import_mcp_config
    from piloto.services.netguard import NetPolicy
    from piloto.services.registry import ServiceRegistry

    try:
        config = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {file} as JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise typer.BadParameter(f"{file} does not hold a JSON object")

    async def go() -> list[dict[str, object]]:
        settings = Settings()
        store = await open_store(settings)
        net = NetPolicy(
            allow_loopback=settings.net_allow_loopback, allow_private=settings.net_allow_private
        )
        registry = ServiceRegistry(
            db=store.db, box=store.box, net=net, secrets=process_secrets(settings)
        )
        try:
            project_id = None
            if project:
                async with store.db.read() as conn:
                    found = await find_project_by_name(conn, name=project)
                    project_id = (
                        found.id if found else (await get_project(conn, project_id=project)).id
                    )
            results = await import_mcp_config(
                registry, config=config, project_id=project_id, actor="cli",
                allow_offline=allow_offline, lang=settings.language,
            )  # fmt: skip
            return [r.model_dump() for r in results]
        finally:
            await registry.aclose()
            await store.db.dispose()

    try:
        results = asyncio.run(go())
    except Exception as exc:
        typer.secho(f"piloto: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    for r in results:
        detail = f" ({r['operations']} tools)" if r["status"] == "registered" else ""
        reason = f": {r['reason']}" if r["reason"] else ""
        typer.echo(f"{r['status']:<10} {r['name']}{detail}{reason}")
    if any(r["status"] == "failed" for r in results):
        raise typer.Exit(1)


@asynccontextmanager
async def _database() -> AsyncIterator[Database]:
    from piloto.boot import open_store
    from piloto.store.problems import StartupError

    settings = Settings()
    # The audit chain is keyed with the same secret as the server's (the key the database
    # records), so `audit verify` checks what `serve` wrote.
    try:
        db = (await open_store(settings)).db
    except StartupError as exc:
        typer.secho(f"piloto: {exc.text(settings.language)}", fg="red", err=True)
        raise typer.Exit(2) from None
    try:
        yield db
    finally:
        await db.dispose()


def main() -> None:
    """Entry point of the ``piloto`` script."""
    app()


if __name__ == "__main__":
    main()
