"""Credentials at rest: Fernet (AES-128-CBC + HMAC) with a key from settings or the data dir."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secret.key"


def legacy_key(secret_key: str) -> bytes:
    """The key an install with PILOTO_SECRET_KEY has always used: its SHA-256."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest())


class SecretBox:
    """Encrypts and decrypts credential dictionaries; the key never leaves this object."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def derive(self, purpose: str) -> bytes:
        """A separate key for ``purpose`` (e.g. the audit chain), derived from this one."""
        return hmac.new(self._key, f"piloto:{purpose}".encode(), hashlib.sha256).digest()

    @classmethod
    def from_settings(cls, secret_key: str | None, data_dir: Path) -> SecretBox:
        """The key without the database's record (services/keyring.py is what serve uses):
        PILOTO_SECRET_KEY stretched, or a key generated once in the data dir."""
        if secret_key:
            return cls(legacy_key(secret_key))
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def encrypt(self, values: dict[str, str]) -> str | None:
        """The ciphertext of ``values``, or None when there is nothing to keep."""
        if not values:
            return None
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, str]:
        """The plaintext dictionary; a wrong key raises a clear error."""
        if not token:
            return {}
        try:
            return dict(json.loads(self._fernet.decrypt(token.encode())))
        except InvalidToken as exc:
            raise ValueError(
                "stored credentials cannot be decrypted: PILOTO_SECRET_KEY (or data/secret.key) "
                "changed since they were saved; register the service's credentials again"
            ) from exc

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"
