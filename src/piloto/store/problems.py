"""Start-up failures a person can act on: what failed and where, never a URL's password."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

MESSAGES: dict[str, dict[str, str]] = {
    "pg_unreachable": {
        "en": "cannot reach PostgreSQL at {where} ({reason}). Start it, or fix the host and port "
        "in PILOTO_DATABASE_URL.",
        "es": "no se puede conectar con PostgreSQL en {where} ({reason}). Arráncalo o corrige el "
        "host y el puerto en PILOTO_DATABASE_URL.",
    },
    "pg_login": {
        "en": "PostgreSQL at {where} refused the login ({reason}). Fix the user and password in "
        "PILOTO_DATABASE_URL.",
        "es": "PostgreSQL en {where} rechazó el acceso ({reason}). Corrige el usuario y la "
        "contraseña en PILOTO_DATABASE_URL.",
    },
    "pg_no_database": {
        "en": "the database {where} does not exist. Create it (createdb) or fix "
        "PILOTO_DATABASE_URL.",
        "es": "la base de datos {where} no existe. Créala (createdb) o corrige PILOTO_DATABASE_URL.",
    },
    "disk_full": {
        "en": "the disk holding {where} is full. Free space there, or set PILOTO_DATA_DIR "
        "(or PILOTO_DATABASE_URL) to a disk with room.",
        "es": "el disco donde está {where} está lleno. Libera espacio o apunta PILOTO_DATA_DIR "
        "(o PILOTO_DATABASE_URL) a un disco con sitio.",
    },
    "read_only": {
        "en": "{where} is read-only ({reason}). Piloto must write its database there: give it "
        "write access, or set PILOTO_DATA_DIR (or PILOTO_DATABASE_URL) to a writable place.",
        "es": "{where} es de solo lectura ({reason}). Piloto necesita escribir ahí su base de "
        "datos: dale permiso de escritura o apunta PILOTO_DATA_DIR (o PILOTO_DATABASE_URL) a un "
        "sitio con escritura.",
    },
    "cannot_open": {
        "en": "cannot open {where} ({reason}). Check that the path is a writable directory, or "
        "set PILOTO_DATA_DIR (or PILOTO_DATABASE_URL) to one.",
        "es": "no se puede abrir {where} ({reason}). Comprueba que la ruta es un directorio con "
        "escritura, o apunta PILOTO_DATA_DIR (o PILOTO_DATABASE_URL) a uno.",
    },
    "not_a_directory": {
        "en": "{where} is not a directory. Set PILOTO_DATA_DIR to a directory Piloto can write.",
        "es": "{where} no es un directorio. Apunta PILOTO_DATA_DIR a un directorio donde Piloto "
        "pueda escribir.",
    },
    "database_failed": {
        "en": "the database at {where} failed at start ({reason}).",
        "es": "la base de datos en {where} falló al arrancar ({reason}).",
    },
}


class StartupError(Exception):
    """Piloto cannot start; ``text(lang)`` is the one line a person reads, saying what to do."""

    def __init__(self, key: str, table: dict[str, dict[str, str]] | None = None, **values: str):
        super().__init__(key)
        self.key = key
        self.template = (table or MESSAGES)[key]
        self.values = values

    def text(self, lang: str = "en") -> str:
        """The message in ``lang`` (English when there is no translation)."""
        return self.template.get(lang, self.template["en"]).format(**self.values)

    def __str__(self) -> str:
        return self.text("en")


def where(url: str) -> str:
    """The database's place for a message: the file, or user@host:port/db without a password."""
    try:
        u = make_url(url)
    except ArgumentError:
        return "the configured database"
    if u.get_backend_name() == "sqlite":
        return str(u.database or "(memory)")
    user = f"{u.username}@" if u.username else ""
    port = f":{u.port}" if u.port else ""
    return f"{user}{u.host or 'localhost'}{port}/{u.database or ''}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    # psycopg prefixes the whole connection attempt; the cause is after the last colon.
    if "connection failed:" in line or "failed:" in line:
        line = line.rsplit("failed:", 1)[-1].strip() or line
    return line[:200]


def _read_only(directory: Path) -> bool:
    """Whether SQLite's directory (where it makes -wal and -shm) cannot be written."""
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY) or not os.access(
            directory, os.W_OK
        )
    except OSError:
        return False


def describe_db_error(exc: DBAPIError, url: str) -> StartupError:
    """The person's version of a driver error at start."""
    place = where(url)
    reason = _first_line(exc.orig if exc.orig is not None else exc)
    low = reason.lower()
    if "full" in low and ("disk" in low or "database" in low):
        return StartupError("disk_full", where=place)
    if "readonly" in low or "read-only" in low or "read only" in low:
        return StartupError("read_only", where=place, reason=reason)
    if "password" in low or "authentication" in low or ("role" in low and "not exist" in low):
        return StartupError("pg_login", where=place, reason=reason)
    if "database" in low and "does not exist" in low:
        return StartupError("pg_no_database", where=place)
    if "unable to open" in low and _read_only(Path(place).parent):
        return StartupError("read_only", where=place, reason=reason)
    if "unable to open" in low or "disk i/o" in low or "not a database" in low:
        return StartupError("cannot_open", where=place, reason=reason)
    if place.startswith("/") or make_url(url).get_backend_name() == "sqlite":
        return StartupError("database_failed", where=place, reason=reason)
    return StartupError("pg_unreachable", where=place, reason=reason)


def describe_os_error(exc: OSError, path: Path) -> StartupError:
    """The person's version of a file-system error on the data directory."""
    place = str(exc.filename) if exc.filename else str(path)
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StartupError("disk_full", where=place)
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return StartupError("not_a_directory", where=place)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StartupError("read_only", where=place, reason=reason)
    return StartupError("cannot_open", where=place, reason=reason)


@contextmanager
def explained(url: str, data_dir: Path) -> Iterator[None]:
    """Turn disk and database failures inside the block into a ``StartupError``."""
    try:
        yield
    except StartupError:
        raise
    except DBAPIError as exc:
        raise describe_db_error(exc, url) from exc
    except OSError as exc:
        raise describe_os_error(exc, data_dir) from exc
