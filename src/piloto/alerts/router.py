"""``POST /api/alerts/alertmanager``: Prometheus Alertmanager's webhook receiver."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from piloto.alerts.models import AmWebhook
from piloto.alerts.service import AlertTurns, propose_runbooks, record
from piloto.auth.deps import AlertPoster
from piloto.chat.turnkit import ChatDeps

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.post("/alertmanager")
async def alertmanager(
    body: AmWebhook,
    request: Request,
    principal: AlertPoster,
    project_id: str = Query(min_length=1, max_length=64),
) -> dict[str, Any]:
    """Post the group's alerts into its chat (opened on first sight), propose runbooks."""
    deps: ChatDeps = request.app.state.chat
    turns: AlertTurns = request.app.state.alert_turns
    received = await record(deps, project_id=project_id, hook=body)
    await propose_runbooks(deps, received, project_id=project_id, by=principal.name)
    investigating = turns.start(received, project_id=project_id, principal=principal)
    return {**received.public(), "investigating": investigating}
