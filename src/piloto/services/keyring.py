"""The secret key every instance on one database finds: recorded in the database at start.

The key (a Fernet key) encrypts service credentials and keys the audit chain. The database
holds its fingerprint always, and the key itself only wrapped under PILOTO_SECRET_KEY, so
the database alone never yields it:

- PILOTO_SECRET_KEY set: the key is unwrapped from the record. The first instance stores it:
  SHA-256 of PILOTO_SECRET_KEY (what earlier versions used, so their credentials stay valid),
  or, when an instance without PILOTO_SECRET_KEY recorded the database's key, that
  instance's ``secret.key`` (start it once with PILOTO_SECRET_KEY to share its key).
- unset: the data directory's ``secret.key`` (generated once) is the key, as before, and its
  fingerprint is recorded. On PostgreSQL a different key than the recorded one is refused:
  another instance made it, and credentials it saved could not be read here. On SQLite (one
  instance) the file stays the source; a replaced file is logged and recorded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.services.crypto import KEY_FILE, legacy_key
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.store.problems import StartupError
from piloto.store.schema import secret_key

log = logging.getLogger("piloto.keyring")
# Any constant: it only has to be the same for every instance (not the migration lock's).
_PG_KEY_LOCK = 72_404_232

MESSAGES: dict[str, dict[str, str]] = {
    "wrong_secret": {
        "en": "PILOTO_SECRET_KEY is not the one that protects the secret key stored in the "
        "database at {where}. Set PILOTO_SECRET_KEY to the value the other instances use.",
        "es": "PILOTO_SECRET_KEY no es la que protege la clave secreta guardada en la base de "
        "datos {where}. Pon en PILOTO_SECRET_KEY el valor que usan las demás instancias.",
    },
    "needs_secret": {
        "en": "the database at {where} keeps its secret key protected by PILOTO_SECRET_KEY, "
        "which is not set here. Set PILOTO_SECRET_KEY to the value the other instances use.",
        "es": "la base de datos {where} guarda su clave secreta protegida por "
        "PILOTO_SECRET_KEY, que aquí no está definida. Pon en PILOTO_SECRET_KEY el valor que "
        "usan las demás instancias.",
    },
    "other_key": {
        "en": "this instance (data directory {path}) does not hold the secret key another "
        "instance recorded in the database at {where}, so credentials it saved could not be read "
        "here. Set the same "
        "PILOTO_SECRET_KEY on every instance, starting with the first one (its key is then "
        "shared through the database).",
        "es": "esta instancia (directorio de datos {path}) no tiene la clave secreta que otra "
        "instancia registró en la base de datos {where}: sus credenciales no se podrían leer "
        "aquí. Pon la misma "
        "PILOTO_SECRET_KEY en todas las instancias, empezando por la primera (su clave se "
        "comparte entonces a través de la base de datos).",
    },
    "first_not_shared": {
        "en": "the database at {where} holds the secret key of an instance started without "
        "PILOTO_SECRET_KEY. Start that instance (with its data directory) once with "
        "PILOTO_SECRET_KEY set, so it shares its key, then start this one.",
        "es": "la base de datos {where} tiene la clave secreta de una instancia arrancada sin "
        "PILOTO_SECRET_KEY. Arranca esa instancia (con su directorio de datos) una vez con "
        "PILOTO_SECRET_KEY para que comparta su clave, y después esta.",
    },
}


def fingerprint(key: bytes) -> str:
    """What the database records to recognise the key without holding it."""
    return hmac.new(key, b"piloto:key-fingerprint", hashlib.sha256).hexdigest()


def _wrapper(secret: str) -> Fernet:
    # scrypt: PILOTO_SECRET_KEY may be a passphrase, and the wrapped key sits in the database.
    stretched = hashlib.scrypt(
        secret.encode(), salt=b"piloto:secret-key-wrap", n=2**14, r=8, p=1, dklen=32
    )
    return Fernet(base64.urlsafe_b64encode(stretched))


def _read_file(data_dir: Path) -> bytes | None:
    try:
        return (data_dir / KEY_FILE).read_bytes().strip()
    except FileNotFoundError:
        return None


def _create_file(data_dir: Path) -> bytes:
    key = Fernet.generate_key()
    data_dir.mkdir(parents=True, exist_ok=True)
    # 0600 from the start; O_EXCL: never overwrite a key something else wrote meanwhile.
    fd = os.open(data_dir / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


async def resolve_key(db: Database, *, secret: str | None, data_dir: Path, where: str) -> bytes:
    """The instance's secret key, recorded in (or checked against) the database."""
    wrapper = await asyncio.to_thread(_wrapper, secret) if secret else None
    file_key = await asyncio.to_thread(_read_file, data_dir)
    async with db.write() as conn:
        if db.dialect == "postgresql":
            # Instances starting together must agree on one first record.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_KEY_LOCK})
        row = (await conn.execute(select(secret_key).where(secret_key.c.id == 1))).first()
        if wrapper is not None:
            assert secret is not None
            return await _with_secret(conn, row, wrapper, secret, file_key, where)
        matches = (
            row is not None and file_key is not None and fingerprint(file_key) == row.fingerprint
        )
        if row is not None and not matches:
            if row.wrapped:
                raise StartupError("needs_secret", MESSAGES, where=where)
            if db.dialect == "postgresql":
                raise StartupError("other_key", MESSAGES, path=str(data_dir), where=where)
        if file_key is None:
            file_key = await asyncio.to_thread(_create_file, data_dir)
        if row is not None and not matches:
            log.warning(
                "%s is not the key this database recorded: credentials saved with the old key "
                "cannot be decrypted (register them again)",
                data_dir / KEY_FILE,
            )
        # The wrapped copy stays: instances with PILOTO_SECRET_KEY still unwrap the same key.
        await _record(conn, row is None, fingerprint(file_key), row.wrapped if row else None)
        return file_key


async def _with_secret(
    conn: AsyncConnection,
    row: object,
    wrapper: Fernet,
    secret: str,
    file_key: bytes | None,
    where: str,
) -> bytes:
    wrapped = getattr(row, "wrapped", None)
    if wrapped:
        try:
            key = wrapper.decrypt(wrapped.encode())
        except InvalidToken:
            raise StartupError("wrong_secret", MESSAGES, where=where) from None
    elif row is not None:
        recorded = getattr(row, "fingerprint", "")
        found = [k for k in (file_key, legacy_key(secret)) if k and fingerprint(k) == recorded]
        if not found:
            raise StartupError("first_not_shared", MESSAGES, where=where)
        key = found[0]
    else:
        key = legacy_key(secret)
    # Every start writes the record: a read-only database is found here, not at first use.
    await _record(conn, row is None, fingerprint(key), wrapper.encrypt(key).decode())
    return key


async def _record(conn: AsyncConnection, new: bool, mark: str, wrapped: str | None) -> None:
    t = now()
    if new:
        await conn.execute(
            insert(secret_key).values(
                id=1, fingerprint=mark, wrapped=wrapped, created_at=t, updated_at=t
            )
        )
    else:
        await conn.execute(
            update(secret_key)
            .where(secret_key.c.id == 1)
            .values(fingerprint=mark, wrapped=wrapped, updated_at=t)
        )
