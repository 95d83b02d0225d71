"""Who may read ``/metrics``: an admin's token or PILOTO_METRICS_TOKEN."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from piloto.auth.tokens import principal_for_token
from piloto.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from starlette.requests import Request

    from piloto.settings import Settings
    from piloto.store.db import Database


async def check_metrics_access(request: Request, db: Database, settings: Settings) -> None:
    """Admit an admin's token or PILOTO_METRICS_TOKEN; 401/403 saying what to send otherwise."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized(
            "/metrics needs `Authorization: Bearer <token>` with an admin token or "
            "PILOTO_METRICS_TOKEN (or set PILOTO_METRICS_PUBLIC=1 to expose it)."
        )
    wanted = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if wanted and hmac.compare_digest(secret.encode(), wanted.encode()):
        return
    async with db.read() as conn:
        principal = await principal_for_token(conn, secret=secret)
    if principal is None:
        raise Unauthorized("This token is not valid for /metrics (unknown or revoked).")
    if not principal.can("admin"):
        raise Forbidden(
            f"/metrics needs an admin token or PILOTO_METRICS_TOKEN; yours is a {principal.role}."
        )
