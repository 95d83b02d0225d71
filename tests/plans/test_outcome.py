"""Consent actions answer with what they wrote: the run as a later read finds it, the chat lines
they appended and no one else's, and a refusal writes nothing it should not (#12, #14)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from tests.conftest import make_token
from tests.support.world import World, make_world

from piloto.i18n import t
from piloto.store.schema import (
    approvals,
    audit_log,
    chat_state,
    events,
    messages,
    runs,
    steps,
)

ADMIN = "admin (PILOTO_ADMIN_TOKEN)"  # who the test client is


@pytest.fixture
async def world(app_client: httpx.AsyncClient, shared_toolbox: str) -> World:
    return await make_world(app_client, shared_toolbox)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def propose(world: World, cmd: str = "uname -a") -> dict[str, Any]:
    resp = await world.send(f"/cmd box {cmd}")
    assert resp.status_code == 200, resp.text
    run = resp.json()["run"]
    assert run is not None and run["status"] == "draft", resp.json()
    return dict(run)


async def get_run(world: World, run_id: str) -> dict[str, Any]:
    resp = await world.client.get(f"/api/runs/{run_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def confirm(world: World, run: dict[str, Any], token: str | None = None) -> httpx.Response:
    return await world.client.post(
        f"/api/runs/{run['id']}/confirm",
        json={"plan_hash": run["plan_hash"]},
        headers=bearer(token) if token else {},
    )


async def record(world: World, run_id: str) -> dict[str, Any]:
    """What a consent action may write about one chat and run, read from the database (not the
    notification outbox, which its worker drains meanwhile)."""
    db = world.client.app.state.db  # type: ignore[attr-defined]

    async def count(table: Any, where: Any) -> int:
        return int(
            (await conn.execute(select(func.count()).select_from(table).where(where))).scalar_one()
        )

    async with db.read() as conn:
        run_row = (await conn.execute(select(runs).where(runs.c.id == run_id))).one()
        state = (
            await conn.execute(select(chat_state).where(chat_state.c.chat_id == world.chat_id))
        ).one()
        return {
            "run": dict(run_row._mapping),
            "steps": [dict(r._mapping) for r in await conn.execute(select(steps).where(steps.c.run_id == run_id))],
            "state": dict(state._mapping),
            "messages": await count(messages, messages.c.chat_id == world.chat_id),
            "events": await count(events, events.c.chat_id == world.chat_id),
            "audit": await count(audit_log, audit_log.c.chat_id == world.chat_id),
            "approvals": await count(approvals, approvals.c.run_id == run_id),
        }  # fmt: skip


async def expire_now(world: World, run_id: str) -> None:
    db = world.client.app.state.db  # type: ignore[attr-defined]
    async with db.write() as conn:
        await conn.execute(update(runs).where(runs.c.id == run_id).values(expires_at=1.0))


# --- the answer is the run as written ---------------------------------------------------------


async def test_the_confirm_response_is_what_a_later_read_returns(world: World) -> None:
    run = await propose(world)
    assert run == await get_run(world, run["id"])
    resp = await confirm(world, run)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "queued" and body["confirmed_by"] and body["confirmed_at"]
    assert [a["by"] for a in body["approvals"]] == [body["confirmed_by"]]
    assert body == await get_run(world, run["id"])


async def test_each_approval_answers_with_the_run_as_written(world: World) -> None:
    resp = await world.client.patch(
        f"/api/projects/{world.project_id}", json={"settings": {"required_approvals": {"read": 2}}}
    )
    assert resp.status_code == 200, resp.text
    operator = await make_token(world.client, "operator")
    run = await propose(world)
    first = await confirm(world, run)
    assert first.status_code == 200 and first.json()["status"] == "draft"
    assert len(first.json()["approvals"]) == 1
    assert first.json() == await get_run(world, run["id"])
    second = await confirm(world, run, operator)
    assert second.status_code == 200 and second.json()["status"] == "queued"
    assert len(second.json()["approvals"]) == 2
    assert second.json() == await get_run(world, run["id"])


async def test_typed_yes_cancel_and_edit_answer_with_the_run_as_written(world: World) -> None:
    run = await propose(world)
    yes = (await world.send("yes")).json()
    assert yes["run"]["status"] == "queued"
    assert yes["run"] == await get_run(world, run["id"])
    cancelled = await world.client.post(f"/api/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json() == await get_run(world, run["id"])

    draft = await propose(world, "uptime")
    step = draft["steps"][0]
    edited = await world.client.post(
        f"/api/runs/{draft['id']}/edit",
        json={"steps": [{"service": step["service"], "operation": step["operation"], "arguments": {"cmd": "id"}}]},
    )  # fmt: skip
    assert edited.status_code == 201, edited.text
    assert edited.json() == await get_run(world, edited.json()["id"])
    assert (await get_run(world, draft["id"]))["status"] == "superseded"
    no = (await world.send("no")).json()
    assert no["run"] == await get_run(world, edited.json()["id"])
    assert no["run"]["status"] == "cancelled"


async def test_an_auto_approved_proposal_answers_with_the_queued_run(world: World) -> None:
    resp = await world.client.patch(
        f"/api/projects/{world.project_id}", json={"settings": {"auto_approve_reads": True}}
    )
    assert resp.status_code == 200, resp.text
    turn = (await world.send("/call box system_info {}")).json()
    assert turn["run"]["status"] == "queued" and turn["run"]["approved_by_policy"] is True
    assert turn["run"] == await get_run(world, turn["run"]["id"])
    # The proposal and the auto-approval, each exactly as stored, in order.
    stored = {m["id"]: m for m in await world.messages()}
    assert [r["id"] for r in turn["replies"]] == sorted(
        (r["id"] for r in turn["replies"]), key=lambda i: stored[i]["seq"]
    )
    assert all(r == stored[r["id"]] for r in turn["replies"])
    assert [r["role"] for r in turn["replies"]] == ["assistant", "event"]


async def test_a_decision_on_an_interrupted_step_answers_with_the_run_as_written(
    world: World,
) -> None:
    run = await propose(world)
    assert (await confirm(world, run)).status_code == 200
    db = world.client.app.state.db  # type: ignore[attr-defined]
    async with db.write() as conn:  # what recovery leaves after a crash mid-step
        await conn.execute(update(runs).where(runs.c.id == run["id"]).values(status="interrupted"))
        await conn.execute(
            update(steps).where(steps.c.run_id == run["id"]).values(status="interrupted")
        )
    resp = await world.client.post(f"/api/runs/{run['id']}/decision", json={"decision": "skip"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "queued"
    assert [s["status"] for s in resp.json()["steps"]] == ["skipped"]
    assert resp.json() == await get_run(world, run["id"])
    # The decision is said in the chat's language (it was a hard-coded English line).
    assert (await world.messages())[-1]["content"] == t("en", "step_decided_skip", actor=ADMIN, n=1)


async def test_a_decision_is_said_in_the_chats_language(world: World) -> None:
    resp = await world.client.patch(f"/api/chats/{world.chat_id}", json={"language": "es"})
    assert resp.status_code == 200, resp.text
    run = await propose(world)
    assert (await confirm(world, run)).status_code == 200
    db = world.client.app.state.db  # type: ignore[attr-defined]
    async with db.write() as conn:
        await conn.execute(update(runs).where(runs.c.id == run["id"]).values(status="interrupted"))
        await conn.execute(
            update(steps).where(steps.c.run_id == run["id"]).values(status="interrupted")
        )
    resp = await world.client.post(f"/api/runs/{run['id']}/decision", json={"decision": "retry"})
    assert resp.status_code == 200, resp.text
    said = (await world.messages())[-1]["content"]
    assert said == t("es", "step_decided_retry", actor=ADMIN, n=1)
    assert said.startswith(ADMIN) and "paso 1" in said
    again = await world.client.post(f"/api/runs/{run['id']}/decision", json={"decision": "skip"})
    assert again.status_code == 409, again.text


# --- the reply is the action's own line --------------------------------------------------------


async def test_a_typed_yes_replies_with_its_own_confirmed_line_while_others_write(
    world: World,
) -> None:
    """Each round races a typed "yes" against a typed "no" and a cancel on the card: all three
    write event lines for the same run, and each reply must be the line its own action wrote."""
    cancel_lines = {t("en", "cancelled", actor=ADMIN), t("en", "cancelling")}
    for _ in range(8):
        run = await propose(world)
        yes, no, card = await asyncio.gather(
            world.send("yes"),
            world.send("no"),
            world.client.post(f"/api/runs/{run['id']}/cancel"),
        )
        assert yes.status_code == no.status_code == 200, (yes.text, no.text)
        stored = {m["id"]: m for m in await world.messages()}
        y, n = yes.json(), no.json()
        assert y["reply"]["id"] != n["reply"]["id"]
        for turn in (y, n):
            assert turn["reply"] == stored[turn["reply"]["id"]]
            assert turn["reply"]["seq"] > turn["message"]["seq"]
        if y["run"] is not None:
            # It confirmed: its reply is exactly the "confirmed" line, whoever cancelled after.
            assert y["reply"]["content"] == t("en", "confirmed", actor=ADMIN), y["reply"]
            assert y["reply"]["run_id"] == run["id"] and y["replies"] == [y["reply"]]
        else:
            assert y["reply"]["content"] != t("en", "confirmed", actor=ADMIN), y["reply"]
        assert n["reply"]["content"] != t("en", "confirmed", actor=ADMIN), n["reply"]
        if n["run"] is not None:
            assert n["reply"]["content"] in cancel_lines, n["reply"]
        confirmed = [m for m in stored.values() if m["run_id"] == run["id"]
                     and m["content"] == t("en", "confirmed", actor=ADMIN)]  # fmt: skip
        assert len(confirmed) == (1 if y["run"] is not None else 0)
        if card.status_code == 200:
            assert card.json() == await get_run(world, run["id"])
        final = await get_run(world, run["id"])
        if final["status"] == "queued":
            await world.client.post(f"/api/runs/{run['id']}/cancel")


async def test_two_chats_sending_yes_at_once_each_get_their_own_line(world: World) -> None:
    chat = await world.client.post("/api/chats", json={"project_id": world.project_id})
    other = World(world.client, world.project_id, chat.json()["id"], world.service_id)
    for w in (world, other):
        assert (await w.send("/cmd box uname -a")).status_code == 200
    turns = await asyncio.gather(*(w.send("yes") for w in (world, other)))
    for w, turn in zip((world, other), turns, strict=True):
        body = turn.json()
        assert body["reply"]["chat_id"] == w.chat_id
        assert body["reply"]["run_id"] == body["run"]["id"]
        assert body["reply"]["content"] == t("en", "confirmed", actor=ADMIN)


# --- a refusal writes nothing but what it should -----------------------------------------------


async def test_a_confirm_with_another_hash_writes_nothing(world: World) -> None:
    run = await propose(world)
    before = await record(world, run["id"])
    resp = await world.client.post(f"/api/runs/{run['id']}/confirm", json={"plan_hash": "0" * 64})
    assert resp.status_code == 409 and resp.json()["code"] == "plan_hash_mismatch"
    assert await record(world, run["id"]) == before


async def test_a_confirm_of_a_run_no_longer_draft_writes_nothing(world: World) -> None:
    run = await propose(world)
    assert (await confirm(world, run)).status_code == 200
    before = await record(world, run["id"])
    again = await confirm(world, run)
    assert again.status_code == 409 and again.json()["code"] == "not_draft"
    assert await record(world, run["id"]) == before


async def test_a_confirm_of_an_expired_draft_writes_only_the_expiry(world: World) -> None:
    run = await propose(world)
    await expire_now(world, run["id"])
    before = await record(world, run["id"])
    resp = await confirm(world, run)
    assert resp.status_code == 409 and resp.json()["code"] == "expired"
    after = await record(world, run["id"])
    assert after["run"]["status"] == "expired" and after["state"]["pending_run_id"] is None
    assert after["approvals"] == before["approvals"] == 0
    # One line, one audit record, and two events (the run's change and the line).
    assert (after["messages"], after["audit"], after["events"]) == (
        before["messages"] + 1, before["audit"] + 1, before["events"] + 2,
    )  # fmt: skip
    assert (await world.messages())[-1]["content"] == resp.json()["detail"]


async def test_a_typed_yes_on_an_expired_draft_replies_with_the_one_expiry_line(
    world: World,
) -> None:
    run = await propose(world)
    await expire_now(world, run["id"])
    before = await record(world, run["id"])
    turn = (await world.send("yes")).json()
    assert turn["run"] is None
    after = await record(world, run["id"])
    assert after["run"]["status"] == "expired"
    # The person's message and the expiry's line: not a second line repeating it.
    assert after["messages"] == before["messages"] + 2
    new = (await world.messages())[-2:]
    assert [m["id"] for m in new] == [turn["message"]["id"], turn["reply"]["id"]]
    assert turn["replies"] == [new[1]] and new[1]["run_id"] == run["id"]
    assert "expired" in str(new[1]["content"]).lower()
