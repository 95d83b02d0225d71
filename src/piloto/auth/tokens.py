"""API tokens and browser sessions: random, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.store.ids import new_id, now
from piloto.store.schema import sessions, tokens

Role = Literal["admin", "operator", "viewer", "alerts"]
# "alerts" (Alertmanager's token) ranks below viewer: it reads nothing, it may only post
# alerts (``AlertPoster``).
ROLES: tuple[Role, ...] = ("alerts", "viewer", "operator", "admin")
ENV_ADMIN_NAME = "admin (PILOTO_ADMIN_TOKEN)"
GENERATED_ADMIN_NAME = "admin"


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        """Whether this principal has at least ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_secret(secret: str) -> str:
    """The stored form of a token or session id."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_token() -> str:
    """A new random token (256 bits), shown to its owner once."""
    return "plt_" + secrets.token_urlsafe(32)


async def create_token(
    conn: AsyncConnection, *, name: str, role: Role, secret: str | None = None
) -> tuple[Principal, str]:
    """Store a token's hash; return the principal and the plaintext (to show once)."""
    plaintext = secret or generate_token()
    token_id = new_id()
    await conn.execute(
        insert(tokens).values(
            id=token_id, name=name, role=role, token_hash=hash_secret(plaintext), created_at=now()
        )
    )
    return Principal(token_id, name, role), plaintext


async def principal_for_token(conn: AsyncConnection, *, secret: str) -> Principal | None:
    """The active principal owning ``secret``, compared in constant time."""
    digest = hash_secret(secret)
    row = (
        await conn.execute(
            select(tokens).where(tokens.c.token_hash == digest, tokens.c.revoked_at.is_(None))
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Principal(row.id, row.name, row.role)


async def list_tokens(conn: AsyncConnection) -> list[dict[str, object]]:
    """Tokens without their hashes."""
    rows = await conn.execute(
        select(
            tokens.c.id, tokens.c.name, tokens.c.role, tokens.c.created_at, tokens.c.revoked_at
        ).order_by(tokens.c.created_at)
    )
    return [dict(r._mapping) for r in rows]


async def revoke_token(conn: AsyncConnection, *, token_id: str) -> bool:
    """Revoke a token and end its sessions; False when it does not exist."""
    res = await conn.execute(
        update(tokens)
        .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    await conn.execute(delete(sessions).where(sessions.c.token_id == token_id))
    return res.rowcount > 0


async def ensure_admin(conn: AsyncConnection, *, env_token: str | None) -> str | None:
    """Make sure an admin can log in; return a newly generated token to print, else None."""
    if env_token:
        digest = hash_secret(env_token)
        found = (
            await conn.execute(select(tokens.c.id).where(tokens.c.token_hash == digest))
        ).first()
        if found is None:
            # A changed PILOTO_ADMIN_TOKEN replaces the previous one.
            await conn.execute(
                update(tokens)
                .where(tokens.c.name == ENV_ADMIN_NAME, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now())
            )
            await create_token(conn, name=ENV_ADMIN_NAME, role="admin", secret=env_token)
        return None
    any_admin = (
        await conn.execute(
            select(tokens.c.id)
            .where(tokens.c.role == "admin", tokens.c.revoked_at.is_(None))
            .limit(1)
        )
    ).first()
    if any_admin is not None:
        return None
    _, plaintext = await create_token(conn, name=GENERATED_ADMIN_NAME, role="admin")
    return plaintext


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str


async def create_session(
    conn: AsyncConnection, *, principal: Principal, ttl_s: int
) -> tuple[str, str]:
    """Start a browser session; return (session id for the cookie, CSRF token)."""
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    t = now()
    await conn.execute(
        insert(sessions).values(
            id_hash=hash_secret(sid),
            token_id=principal.token_id,
            csrf=csrf,
            created_at=t,
            expires_at=t + ttl_s,
        )
    )
    return sid, csrf


async def session_for_cookie(conn: AsyncConnection, *, sid: str) -> Session | None:
    """The live session behind a cookie value, with its owner."""
    row = (
        await conn.execute(
            select(
                sessions.c.csrf, sessions.c.expires_at, tokens.c.id, tokens.c.name, tokens.c.role
            )
            .join(tokens, tokens.c.id == sessions.c.token_id)
            .where(sessions.c.id_hash == hash_secret(sid), tokens.c.revoked_at.is_(None))
        )
    ).first()
    if row is None or row.expires_at < now():
        return None
    return Session(Principal(row.id, row.name, row.role), row.csrf)


async def delete_session(conn: AsyncConnection, *, sid: str) -> None:
    """Log out."""
    await conn.execute(delete(sessions).where(sessions.c.id_hash == hash_secret(sid)))
