"""Login, logout, who am I, and token management (admins)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from piloto.auth import tokens as repo
from piloto.auth.deps import CSRF_COOKIE, SESSION_COOKIE, Admin, CurrentPrincipal
from piloto.deps import DB, AppSettings
from piloto.errors import NotFound, Unauthorized

router = APIRouter(prefix="/api", tags=["auth"])


class LoginIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "operator", "viewer", "alerts"]


@router.post("/login")
async def login(
    body: LoginIn, request: Request, response: Response, db: DB, settings: AppSettings
) -> dict[str, object]:
    """Exchange a token for an HttpOnly session cookie (and a CSRF token for the UI)."""
    async with db.write() as conn:
        principal = await repo.principal_for_token(conn, secret=body.token.strip())
        if principal is None:
            raise Unauthorized("This token is not valid. Check it and try again.")
        sid, csrf = await repo.create_session(conn, principal=principal, ttl_s=settings.session_ttl)
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=settings.session_ttl,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=settings.session_ttl,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return {"name": principal.name, "role": principal.role, "csrf": csrf}


@router.post("/logout")
async def logout(
    request: Request, response: Response, db: DB, _: CurrentPrincipal
) -> dict[str, bool]:
    """End the browser session."""
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        async with db.write() as conn:
            await repo.delete_session(conn, sid=sid)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return {"ok": True}


@router.get("/me")
async def me(principal: CurrentPrincipal) -> dict[str, str]:
    """The caller's name and role."""
    return {"name": principal.name, "role": principal.role}


@router.get("/tokens")
async def list_tokens(db: DB, _: Admin) -> list[dict[str, object]]:
    """Every token, without secrets."""
    async with db.read() as conn:
        return await repo.list_tokens(conn)


@router.post("/tokens", status_code=201)
async def create_token(body: TokenIn, db: DB, _: Admin) -> dict[str, str]:
    """Create a token; its secret is shown in this response only."""
    async with db.write() as conn:
        principal, secret = await repo.create_token(conn, name=body.name, role=body.role)
    return {
        "id": principal.token_id,
        "name": principal.name,
        "role": principal.role,
        "token": secret,
    }


@router.delete("/tokens/{token_id}")
async def revoke_token(token_id: str, db: DB, _: Admin) -> dict[str, bool]:
    """Revoke a token and its sessions."""
    async with db.write() as conn:
        if not await repo.revoke_token(conn, token_id=token_id):
            raise NotFound("No such token (or it is already revoked).")
    return {"ok": True}
