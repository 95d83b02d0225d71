"""The copilot loop: when a plan ends, its result goes back to the model, which answers.

The runner calls ``FollowUps.schedule(run_id)`` as a run ends; the turn runs as its own task,
outside the runner's lease, so a slow or failing model never holds up other runs. A plan the
model proposed earns one model turn (its answer, or a follow-up plan that needs consent like
any other); a slash-command plan earns a short deterministic summary instead. Each run's
follow-up is claimed once (compare-and-set), so two instances never answer it twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from piloto.auth.tokens import Principal
from piloto.chat import calls as calls_repo
from piloto.chat.modelturn import model_turn
from piloto.chat.outcome import direct_summary
from piloto.chat.proposal import ENDED
from piloto.chat.turnkit import ChatDeps, TurnResult, say
from piloto.i18n import t
from piloto.plans import repo as plans_repo
from piloto.plans.models import PlanRun
from piloto.store.ids import now
from piloto.threads import repo

log = logging.getLogger("piloto.chat.followup")

CLOSE_GRACE_S = 10.0
# A run that ended longer ago than this is not answered after a restart: the person has moved on.
SWEEP_WINDOW_S = 600.0


class FollowUps:
    """Follow-up turns in flight, as tasks the app waits for (then cancels) when it stops."""

    def __init__(self, deps: ChatDeps) -> None:
        self.deps = deps
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, run_id: str) -> None:
        """Start the follow-up of an ended run; returns at once (called from the runner)."""
        task = asyncio.get_running_loop().create_task(
            self._safe(run_id), name=f"piloto-followup-{run_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _safe(self, run_id: str) -> None:
        try:
            await after_run(self.deps, run_id)
            await _release_if_interrupted(self.deps, run_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let a follow-up take anything else down
            log.exception("follow-up of run %s failed", run_id)
            await _report_failure(self.deps, run_id, exc)

    async def sweep(self, *, window_s: float = SWEEP_WINDOW_S) -> list[str]:
        """At startup: answer runs that ended recently while no instance was there to."""
        async with self.deps.db.read() as conn:
            found = await calls_repo.unanswered_runs(conn, since=now() - window_s)
        for run_id in found:
            self.schedule(run_id)
        return found

    async def wait_idle(self) -> None:
        """Wait for the follow-ups in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self) -> None:
        """Give follow-ups in flight a moment to finish; cancel the rest."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=CLOSE_GRACE_S)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=CLOSE_GRACE_S)


async def _release_if_interrupted(deps: ChatDeps, run_id: str) -> None:
    async with deps.db.write() as conn:
        run = await plans_repo.get_run(conn, run_id=run_id, with_steps=False)
        if run.status == "interrupted":
            await calls_repo.release_followup(conn, run_id=run_id)


async def _report_failure(deps: ChatDeps, run_id: str, exc: Exception) -> None:
    try:
        async with deps.db.write() as conn:
            run = await plans_repo.get_run(conn, run_id=run_id, with_steps=False)
            chat = await repo.get_chat(conn, chat_id=run.chat_id)
            lang = chat.language or deps.settings.language
            await repo.append_message(
                conn, chat_id=run.chat_id, role="event", content=t(lang, "followup_failed"),
                meta={"kind": "model_error", "error": type(exc).__name__, "after_run": run_id},
            )  # fmt: skip
    except Exception:
        log.exception("could not report the failed follow-up of run %s", run_id)


def _principal_of(run: PlanRun) -> Principal:
    """The person the loop answers: the one the original plan was proposed for."""
    token_id: Any = getattr(run, "proposed_for", None)
    name: Any = getattr(run, "proposed_for_name", None)
    if not name:
        name = run.proposed_by.split(" for ", 1)[-1]
    return Principal(token_id=token_id or "", name=str(name), role="operator")


async def after_run(deps: ChatDeps, run_id: str) -> None:
    """Answer the end of a run: the model's turn, or a direct-mode summary, at most once."""
    async with deps.db.write() as conn:
        call = await calls_repo.get_plan_call(conn, run_id=run_id)
        if call is None:
            return
        run = await plans_repo.get_run(conn, run_id=run_id)
        if run.status not in ENDED or not await calls_repo.claim_followup(conn, run_id=run_id):
            return
        chat = await repo.get_chat(conn, chat_id=run.chat_id)
        state = await plans_repo.get_chat_state(conn, chat_id=run.chat_id)
        recent = await repo.recent_messages(conn, chat_id=run.chat_id, limit=200)
    lang = chat.language or deps.settings.language
    if call.kind == "direct":
        summary = direct_summary(run, lang)
        if summary:
            await say(
                deps, run.chat_id, summary, role="event", run_id=run.id, meta={"kind": "summary"}
            )
        return
    if deps.model is None:
        return
    ended_at = max((m.seq for m in recent if m.run_id == run_id), default=call.origin_seq)

    async def superseded() -> bool:
        # The person spoke after the run ended: their message's own turn answers instead.
        async with deps.db.read() as conn:
            newest = await repo.recent_messages(conn, chat_id=run.chat_id, limit=50)
        return any(m.role == "user" and m.seq > ended_at for m in newest)

    if await superseded():
        log.info("follow-up of run %s superseded by a newer message", run_id)
        return
    turn = call.auto_turn + 1
    if turn > deps.settings.llm_max_auto_turns:
        n = deps.settings.llm_max_auto_turns
        await say(
            deps,
            run.chat_id,
            t(lang, "auto_turns_reached", n=n),
            role="event",
            run_id=run.id,
            meta={"kind": "loop_limit"},
        )
        return
    anchor = max((m for m in recent), key=lambda m: m.seq)
    # A cancelled run ends the loop: the model may explain, not propose again; a draft that
    # is waiting (e.g. a correction) is not replaced behind the person's back either.
    allow_tools = run.status != "cancelled" and state.pending_run_id is None
    await model_turn(
        deps, TurnResult(anchor), chat_id=run.chat_id, project_id=run.project_id,
        principal=_principal_of(run), lang=lang, query=run.summary,
        origin_seq=call.origin_seq, auto_turn=turn, allow_tools=allow_tools,
        superseded=superseded,
    )  # fmt: skip
