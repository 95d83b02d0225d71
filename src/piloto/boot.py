"""Opening the store at start: data dir, migrations, the shared secret key, the audit key.

Every failure here is a ``StartupError`` naming what and where, so ``piloto serve`` prints
one line and exits 2 instead of a driver's traceback.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from piloto.audit.anchor import configure_audit
from piloto.services.crypto import SecretBox
from piloto.services.keyring import resolve_key
from piloto.settings import Settings
from piloto.store import migrate
from piloto.store.db import Database
from piloto.store.problems import explained, where


@dataclass(frozen=True)
class Store:
    """The opened database and the instance's secret box."""

    db: Database
    box: SecretBox


async def open_store(settings: Settings) -> Store:
    """Create the data dir, migrate, resolve the secret key; dispose ``db`` when done."""
    url = settings.resolved_database_url
    with explained(url, settings.data_dir):
        await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(migrate.upgrade, url)
        db = await asyncio.to_thread(Database, url)
        try:
            key = await resolve_key(
                db,
                secret=settings.secret_key.get_secret_value() if settings.secret_key else None,
                data_dir=settings.data_dir,
                where=where(url),
            )
        except BaseException:
            await db.dispose()
            raise
    box = SecretBox(key)
    # Before anything appends to the audit trail: the chain is keyed from the secret key.
    configure_audit(db.engine, key=box.derive("audit"), data_dir=settings.data_dir)
    return Store(db=db, box=box)


async def preflight(settings: Settings) -> None:
    """Open the store once and close it: start-up failures surface before the server runs."""
    # Alembic's "Context impl" lines would bury the one line a failure prints.
    alembic = logging.getLogger("alembic")
    level = alembic.level
    alembic.setLevel(logging.WARNING)
    try:
        store = await open_store(settings)
        await store.db.dispose()
    finally:
        alembic.setLevel(level)
