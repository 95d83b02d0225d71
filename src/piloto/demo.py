"""The demo: a bundled toolbox beside the server, registered as ``demo`` in a project "Demo"."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

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


def _toolbox_token(data_dir: Path) -> str:
    path = data_dir / "toolbox.token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


async def start_demo(settings: Settings, registry: ServiceRegistry) -> Callable[[], None]:
    """Start the toolbox and (re)register it; returns the function that stops it."""
    token = _toolbox_token(settings.data_dir)
    config = ToolboxConfig(
        host="127.0.0.1",
        port=settings.demo_toolbox_port,
        token=token,
        workdir=settings.data_dir / "toolbox-work",
    )
    base_url, stop = await asyncio.to_thread(start_toolbox_in_thread, config)
    db = registry.db
    async with db.write() as conn:
        project = await projects_repo.find_project_by_name(conn, name=DEMO_PROJECT)
        if project is None:
            project = await projects_repo.create_project(conn, name=DEMO_PROJECT)
        existing = await services_repo.find_service(conn, project_id=project.id, name=DEMO_SERVICE)
        if existing is not None and existing.service.project_id == project.id:
            # The toolbox listens on a new port each start: point the service at it.
            await services_repo.update_service(
                conn, service_id=existing.service.id, base_url=base_url, doc_url=None,
                credentials_enc=registry.box.encrypt({"header:Authorization": f"Bearer {token}"}),
            )  # fmt: skip
            service_id: str | None = existing.service.id
        else:
            service_id = None
    if service_id is None:
        await registry.register(
            ServiceIn(
                name=DEMO_SERVICE,
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
    log.info("demo toolbox ready", extra={"url": base_url, "project": DEMO_PROJECT})
    return stop
