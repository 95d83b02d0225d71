"""Alertmanager notifications → one chat per alert group: record, propose runbooks, ask.

The webhook's answer waits only for the database: runbook drafts are proposed in the same
request (no network), the model's investigation runs in the background (``AlertTurns``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from piloto.alerts.models import AmAlert, AmWebhook
from piloto.alerts.text import describe, question
from piloto.auth.tokens import Principal
from piloto.chat.modelturn import model_turn
from piloto.chat.turnkit import ChatDeps, TurnResult
from piloto.projects.repo import get_project
from piloto.runbooks.service import propose_for_alert
from piloto.store.ids import now
from piloto.store.schema import alert_groups, alerts_seen
from piloto.threads import repo as threads_repo
from piloto.threads.models import Message

log = logging.getLogger("piloto.alerts")
AUTHOR = "Alertmanager"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def alert_key(alert: AmAlert) -> str:
    """Same alert, same state, same start: posted once however often Alertmanager repeats it."""
    identity = alert.fingerprint or json.dumps(alert.labels, sort_keys=True)
    return _digest(identity, alert.status, alert.startsAt)


@dataclass
class Received:
    """What one webhook did."""

    chat_id: str
    created: bool
    posted: list[tuple[AmAlert, Message]] = field(default_factory=list)
    duplicates: int = 0
    proposed: list[str] = field(default_factory=list)
    lang: str = "en"

    def public(self) -> dict[str, object]:
        """The webhook's answer."""
        return {
            "chat_id": self.chat_id, "created": self.created, "posted": len(self.posted),
            "duplicates": self.duplicates, "proposed_run_ids": self.proposed,
        }  # fmt: skip


async def record(deps: ChatDeps, *, project_id: str, hook: AmWebhook) -> Received:
    """Find or open the group's chat and post the alerts not seen before, in one commit."""
    for attempt in (1, 2):
        try:
            return await _record(deps, project_id=project_id, hook=hook)
        except IntegrityError:
            # Another request opened the group's chat or posted the alert first: now it is
            # there to be found, and this request reuses it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _record(deps: ChatDeps, *, project_id: str, hook: AmWebhook) -> Received:
    group = _digest(hook.groupKey)
    async with deps.db.write() as conn:
        await get_project(conn, project_id=project_id)
        chat_id = (
            await conn.execute(
                select(alert_groups.c.chat_id).where(
                    alert_groups.c.project_id == project_id, alert_groups.c.group_key == group
                )
            )
        ).scalar()
        created = chat_id is None
        if chat_id is None:
            chat = await threads_repo.create_chat(
                conn, project_id=project_id, title=hook.alertname()[:200]
            )
            chat_id = chat.id
            await conn.execute(
                insert(alert_groups).values(
                    project_id=project_id, group_key=group, chat_id=chat_id, created_at=now()
                )
            )
            lang: str = deps.settings.language
        else:
            lang = (await threads_repo.get_chat(conn, chat_id=chat_id)).language or (
                deps.settings.language
            )
        received = Received(chat_id=chat_id, created=created, lang=lang)
        keys = [alert_key(a) for a in hook.alerts]
        seen = set(
            (
                await conn.execute(
                    select(alerts_seen.c.key).where(
                        alerts_seen.c.project_id == project_id, alerts_seen.c.key.in_(set(keys))
                    )
                )
            ).scalars()
        )
        for alert, key in zip(hook.alerts, keys, strict=True):
            if key in seen:
                received.duplicates += 1
                continue
            seen.add(key)
            await conn.execute(
                insert(alerts_seen).values(
                    project_id=project_id, key=key, chat_id=chat_id, created_at=now()
                )
            )
            message = await threads_repo.append_message(
                conn, chat_id=chat_id, role="user", content=describe(alert, lang),
                meta={"by": AUTHOR, "kind": "alert", "status": alert.status,
                      "alertname": alert.labels.get("alertname", "")},
            )  # fmt: skip
            received.posted.append((alert, message))
    return received


async def propose_runbooks(
    deps: ChatDeps, received: Received, *, project_id: str, by: str
) -> list[str]:
    """Each newly firing alert name proposes the runbooks whose triggers name it (once)."""
    names: dict[str, AmAlert] = {}
    for alert, _ in received.posted:
        if alert.status == "firing":
            names.setdefault(alert.labels.get("alertname", ""), alert)
    run_ids: list[str] = []
    for name, alert in names.items():
        if not name:
            continue
        run_ids += await propose_for_alert(
            deps.db, deps.registry, project_id=project_id, chat_id=received.chat_id,
            alertname=name, labels=alert.labels, by=by, lang=received.lang,
            ttl_s=deps.settings.plan_ttl,
        )  # fmt: skip
    received.proposed = run_ids
    return run_ids


class AlertTurns:
    """The model's investigations of alerts, in the background; closed with the app."""

    def __init__(self, deps: ChatDeps) -> None:
        self.deps = deps
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, received: Received, *, project_id: str, principal: Principal) -> bool:
        """Ask the model about the first newly firing alert (nothing without a model)."""
        firing = [(a, m) for a, m in received.posted if a.status == "firing"]
        if self.deps.model is None or not firing:
            return False
        alert, message = firing[0]
        task = asyncio.create_task(
            self._turn(received, alert, message, project_id=project_id, principal=principal)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _turn(
        self, received: Received, alert: AmAlert, message: Message, *, project_id: str,
        principal: Principal,
    ) -> None:  # fmt: skip
        try:
            await model_turn(
                self.deps, TurnResult(message), chat_id=received.chat_id, project_id=project_id,
                principal=principal, lang=received.lang, query=question(alert, received.lang),
                # A runbook's draft is the chat's pending plan: the model explains, and
                # proposes nothing that would replace it.
                allow_tools=not received.proposed,
            )  # fmt: skip
        except Exception:
            # A model error is already told in the chat by the turn; the webhook has answered.
            log.exception("alert investigation failed", extra={"chat_id": received.chat_id})

    async def wait(self) -> None:
        """Wait for every investigation started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self, grace_s: float = 5.0) -> None:
        """Let running investigations finish for ``grace_s``, then cancel the rest."""
        # A turn cancelled inside a database write can leave a PostgreSQL connection
        # mid-transaction; most turns end well within the grace period, so few are cut.
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        tasks = [task for task in tasks if not task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
