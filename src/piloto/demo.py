"""The demo: a bundled toolbox beside the server, registered as ``demo`` in a project "Demo"
(``demo-PORT`` for a second instance on the same database)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.exc import IntegrityError

from piloto.errors import Conflict
from piloto.projects import repo as projects_repo
from piloto.services import repo as services_repo
from piloto.services.records import ServiceIn
from piloto.services.registry import ServiceRegistry
from piloto.settings import Settings
from piloto.toolbox.config import ToolboxConfig
from piloto.toolbox.server import start_toolbox_in_thread

log = logging.getLogger("piloto.demo")
DEMO_PROJECT = "Demo"
DEMO_SERVICE = "demo"


@dataclass(frozen=True)
class DemoToolbox:
    """The running demo toolbox: how to stop it, and what its /health said of the sandbox."""

    stop: Callable[[], None]
    sandbox: dict[str, Any] = field(default_factory=dict)

    async def aclose(self) -> None:
        """Stop the toolbox; its thread is joined off the event loop."""
        await asyncio.to_thread(self.stop)


def _toolbox_token(data_dir: Path) -> str:
    path = data_dir / "toolbox.token"
    if not path.exists():
        # Created 0600 from the start: no moment when others could read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _hidden_paths(settings: Settings) -> tuple[Path, ...]:
    """What commands must never see: the data directory (database, secret key, toolbox
    token), an SQLite database kept elsewhere with its journal files, and a `.env` file
    beside the server (where people keep PILOTO_* secrets for their shell)."""
    hidden = [settings.data_dir.resolve(), Path.cwd() / ".env"]
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        db_file = Path(url[len("sqlite:///") :])
        hidden += [db_file.with_name(db_file.name + suffix) for suffix in ("", "-wal", "-shm")]
    return tuple(hidden)


def demo_toolbox_config(settings: Settings, token: str) -> ToolboxConfig:
    """The demo toolbox's configuration, sandbox settings included."""
    return ToolboxConfig(
        host="127.0.0.1",
        port=settings.demo_toolbox_port,
        token=token,
        workdir=settings.data_dir / "toolbox-work",
        network=settings.toolbox_network == "host",
        sandbox=settings.toolbox_sandbox,
        tmp_bytes=settings.toolbox_tmp_mb * 1024**2,
        disk_bytes=settings.toolbox_disk_mb * 1024**2,
        hidden_paths=_hidden_paths(settings),
        unsandboxed=settings.toolbox_unsandboxed,
    )


async def _sandbox_status(base_url: str) -> dict[str, Any]:
    """The toolbox's own account of its sandbox, over its API as any caller would see it."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        health = (await client.get("/health")).json()
    return {
        "sandbox": health["sandbox"],
        "commands": health["commands"],
        "sandboxed": health["sandbox"] == "bubblewrap",
        "network": health["network"],
    }


async def start_demo(settings: Settings, registry: ServiceRegistry) -> DemoToolbox:
    """Start the toolbox and (re)register it; returns how to stop it and its sandbox."""
    token = _toolbox_token(settings.data_dir)
    config = demo_toolbox_config(settings, token)
    base_url, stop = await asyncio.to_thread(start_toolbox_in_thread, config)
    try:
        sandbox = await _sandbox_status(base_url)
    except (httpx.HTTPError, KeyError, ValueError):
        await asyncio.to_thread(stop)
        raise
    if not sandbox["sandboxed"]:
        log.warning(
            "the demo toolbox's commands are not sandboxed (bubblewrap unusable); "
            + ("all commands run" if sandbox["commands"] == "all" else "only read commands run")
        )
    name = await _register_demo(registry, base_url=base_url, token=token, port=settings.port)
    log.info(
        "demo toolbox ready",
        extra={"url": base_url, "project": DEMO_PROJECT, "service": name, **sandbox},
    )
    return DemoToolbox(stop=stop, sandbox={**sandbox, "service": name})


def demo_names(token: str, port: int) -> list[str]:
    """The names this instance's demo may take, in order: ``demo`` for the first instance on a
    database, ``demo-PORT`` for the next, and one from its own token if even that is taken."""
    return [DEMO_SERVICE, f"{DEMO_SERVICE}-{port}", f"{DEMO_SERVICE}-{_token_tag(token)}"]


def _token_tag(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def _owned(registry: ServiceRegistry, row: services_repo.ServiceRow, token: str) -> bool:
    """Whether a registered demo is this instance's: its credential is this data dir's token."""
    try:
        held = registry.box.decrypt(row.credentials_enc)
    except ValueError:
        return False  # another instance's key: certainly not ours
    return held.get("header:Authorization") == f"Bearer {token}"


async def _register_demo(registry: ServiceRegistry, *, base_url: str, token: str, port: int) -> str:
    """Point this instance's demo registration at its toolbox; returns the service's name.

    Each instance owns one registration (the one holding its toolbox token), so an instance
    starting later never re-points another's demo at its own toolbox.
    """
    for _ in range(3):
        try:
            return await _claim(registry, base_url=base_url, token=token, port=port)
        except (Conflict, IntegrityError):
            continue  # another instance took the name or made the project meanwhile: look again
    return await _claim(registry, base_url=base_url, token=token, port=port)


async def _claim(registry: ServiceRegistry, *, base_url: str, token: str, port: int) -> str:
    credentials = registry.box.encrypt({"header:Authorization": f"Bearer {token}"})
    async with registry.db.write() as conn:
        project = await projects_repo.find_project_by_name(conn, name=DEMO_PROJECT)
        if project is None:
            project = await projects_repo.create_project(conn, name=DEMO_PROJECT)
        for name in demo_names(token, port):
            row = await services_repo.find_service(conn, project_id=project.id, name=name)
            if row is None:
                break
            if row.service.project_id == project.id and _owned(registry, row, token):
                # The toolbox listens on a new port each start: point the service at it.
                await services_repo.update_service(
                    conn, service_id=row.service.id, base_url=base_url, doc_url=None,
                    credentials_enc=credentials,
                )  # fmt: skip
                service_id: str | None = row.service.id
                break
        else:
            raise Conflict("every demo name is taken")
        if row is None:
            service_id = None
    if service_id is None:
        await registry.register(
            ServiceIn(
                name=name,
                kind="openapi",
                project_id=project.id,
                base_url=base_url,
                bearer_token=token,
                allow_offline=True,
            ),
            actor="system:demo",
        )
    else:
        await registry.refresh(service_id)
    return name
