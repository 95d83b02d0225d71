"""Authentication for every /api route: a Bearer token, or a session cookie plus CSRF header."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from piloto.auth.tokens import Principal, Role, principal_for_token, session_for_cookie
from piloto.deps import DB
from piloto.errors import Forbidden, Unauthorized
from piloto.i18n import t

SESSION_COOKIE = "piloto_session"
CSRF_COOKIE = "piloto_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def current_principal(request: Request, db: DB) -> Principal:
    """Who is calling; 401 with a hint when nobody is."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("The Authorization header must be `Bearer <token>`.")
        async with db.read() as conn:
            principal = await principal_for_token(conn, secret=secret.strip())
        if principal is None:
            raise Unauthorized("This token is not valid (unknown or revoked).")
        request.state.principal = principal
        return principal
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        async with db.read() as conn:
            session = await session_for_cookie(conn, sid=sid)
        if session is None:
            raise Unauthorized("Your session has expired. Log in again with your token.")
        if request.method not in _SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                raise Forbidden(
                    "This request is missing its CSRF token (X-CSRF-Token). Reload the page.",
                    code="csrf",
                )
        request.state.principal = session.principal
        return session.principal
    raise Unauthorized("Authentication required: send `Authorization: Bearer <token>` or log in.")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(role: Role) -> object:
    """A dependency that admits principals with at least ``role``."""

    async def _check(request: Request, principal: CurrentPrincipal) -> Principal:
        if not principal.can(role):
            # No chat is known here: the server's language (PILOTO_LANGUAGE) speaks for it.
            lang = request.app.state.settings.language
            have, need = t(lang, f"role_{principal.role}"), t(lang, f"role_{role}")
            raise Forbidden(t(lang, "needs_role", role=need, have=have))
        return principal

    return Depends(_check)


Viewer = Annotated[Principal, require("viewer")]
Operator = Annotated[Principal, require("operator")]
Admin = Annotated[Principal, require("admin")]


async def _alert_poster(request: Request, principal: CurrentPrincipal) -> Principal:
    if principal.role != "alerts" and not principal.can("operator"):
        lang = request.app.state.settings.language
        have, need = t(lang, f"role_{principal.role}"), t(lang, "role_alerts")
        raise Forbidden(t(lang, "needs_role", role=need, have=have))
    return principal


# Alertmanager's own token (role "alerts") or an operator's.
AlertPoster = Annotated[Principal, Depends(_alert_poster)]
