"""The notifier: fans the outbox out to webhook URLs and delivers with retries and backoff.

It runs beside the turn, never inside it: a turn only writes a row (``enqueue``), so a slow or
dead endpoint delays nobody. Several instances may run it; each attempt is claimed by CAS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import httpx

from piloto.notify import repo
from piloto.projects.repo import get_project
from piloto.redact import Redactor
from piloto.store.db import Database
from piloto.store.ids import now

log = logging.getLogger("piloto.notify")
ERROR_MAX = 300
# Sent deliveries are kept a week for admins to look at, then forgotten (failed ones stay).
KEEP_SENT_S = 7 * 24 * 3600.0
PRUNE_EVERY_S = 600.0


def chat_link(base_url: str, project_id: str | None, chat_id: str | None) -> str | None:
    """The UI address of a chat, or None without one."""
    if not project_id or not chat_id:
        return None
    return f"{base_url.rstrip('/')}/#/p/{project_id}/c/{chat_id}"


def backoff(attempts: int, base_s: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones (capped at an hour)."""
    return float(min(base_s * 2 ** max(attempts - 1, 0), 3600.0))


class Notifier:
    """One background task per instance; ``wake()`` after a commit that enqueued."""

    def __init__(
        self,
        *,
        db: Database,
        client: httpx.AsyncClient,
        urls: Iterable[str],
        base_url: str,
        secrets: Iterable[str] = (),
        timeout_s: float = 10.0,
        max_attempts: int = 6,
        retry_base_s: float = 2.0,
        poll_s: float = 5.0,
    ) -> None:
        self.db = db
        self.client = client
        self.urls = tuple(urls)
        self.base_url = base_url
        self.redact = Redactor(secrets)
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self.poll_s = poll_s
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        # Requests waiting on a receiver: the only thing stop() cancels. Nothing is cancelled
        # inside a database transaction (on PostgreSQL that leaks a connection mid-write).
        self._in_http: set[asyncio.Task[httpx.Response]] = set()
        self._stopping = False
        self._wake = db.bus.subscribe(repo.WAKE_KEY)
        self._pruned_at = 0.0

    async def start(self) -> None:
        """Start the loop (a first pass delivers what an earlier process left)."""
        self._task = asyncio.create_task(self._loop(), name="piloto-notifier")

    async def stop(self) -> None:
        """Stop the loop; attempts in flight are abandoned and retried by the next claim."""
        self._stopping = True
        self._wake.set()
        for request in list(self._in_http):
            request.cancel()
        for task in [t for t in (self._task, *self._sending) if t is not None]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.db.bus.unsubscribe(repo.WAKE_KEY, self._wake)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self.pass_once()
            except Exception:
                log.exception("notification pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()

    async def pass_once(self) -> None:
        """Fan out new notifications, then start every due delivery (without awaiting them)."""
        async with self.db.read() as conn:
            pending = await repo.unexpanded(conn)
        for item in pending:
            urls = list(self.urls)
            if item.project_id:
                async with self.db.read() as conn:
                    with contextlib.suppress(Exception):
                        project = await get_project(conn, project_id=item.project_id)
                        urls += project.settings.notify_urls
            async with self.db.write() as conn:
                await repo.expand(conn, notification_id=item.id, urls=urls)
        at = now()
        if at - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = at
            async with self.db.write() as conn:
                await repo.prune(conn, before=at - KEEP_SENT_S)
        async with self.db.read() as conn:
            due = await repo.due(conn, at=at)
        for delivery in due:
            if self._stopping:
                return
            async with self.db.write() as conn:
                # Past the attempt's own timeout: a crashed instance's claim comes due again.
                claimed = await repo.claim(
                    conn, delivery=delivery, until=at + self.timeout_s * 3 + 30
                )
            if claimed:
                task = asyncio.create_task(self._send(delivery))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    def payload(self, d: repo.Delivery) -> dict[str, object]:
        """The JSON body: Slack/Mattermost's ``text`` plus the event's fields, secrets redacted."""
        link = chat_link(self.base_url, d.project_id, d.chat_id)
        # Slack's control characters: a summary's "<!channel>" must not ping a whole channel.
        text = (
            self.redact.text(d.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        )
        if link:
            text = f"{text}\n{link}"
        return {
            "text": text, "event": d.event, "run_id": d.run_id, "chat_id": d.chat_id,
            "project_id": d.project_id, "link": link,
        }  # fmt: skip

    async def _send(self, d: repo.Delivery) -> None:
        error: str | None = None
        # Only the request is cancellable: a cancel of the whole task could land after the
        # answer came, at the write below, and break the transaction that records it.
        post = asyncio.create_task(
            self.client.post(d.url, json=self.payload(d), timeout=self.timeout_s)
        )
        self._in_http.add(post)
        try:
            resp = await post
            if resp.status_code >= 300:
                error = f"HTTP {resp.status_code}"
        except asyncio.CancelledError:
            return  # shutting down: the claim comes due again for the next process
        except httpx.TimeoutException:
            error = f"no answer within {self.timeout_s:g} s"
        except Exception as exc:
            # The exception text may hold the URL, whose path is often the webhook's secret.
            error = self.redact.text(exc.__class__.__name__ + ": " + str(exc)).replace(d.url, "…")
        finally:
            self._in_http.discard(post)
        attempts = d.attempts + 1
        if error is None:
            status, next_at = "sent", None
        elif attempts >= self.max_attempts:
            status, next_at = "failed", None
            log.warning("notification failed for good", extra={"event": d.event, "error": error})
        else:
            status, next_at = "pending", now() + backoff(attempts, self.retry_base_s)
            log.info("notification attempt failed", extra={"event": d.event, "error": error})
        async with self.db.write() as conn:
            await repo.finish(
                conn, delivery_id=d.id, status=status,
                error=error[:ERROR_MAX] if error else None, next_at=next_at,
            )  # fmt: skip
        if next_at is not None:
            # The retry is due before the next poll: wake up for it.
            asyncio.get_running_loop().call_later(max(next_at - now(), 0.0), self._wake.set)
