"""Apply Alembic migrations programmatically (called at start, in a worker thread)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from piloto.settings import sync_url

MIGRATIONS = Path(__file__).parent / "migrations"

# Any constant works; it only has to be the same for every Piloto instance.
_PG_MIGRATION_LOCK = 72_404_231


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the bundled migrations for ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema; safe for instances starting together."""
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Two instances starting at once must not both create the tables.
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            else:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
