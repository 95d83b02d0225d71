"""Consent bound to people: a typed "yes" confirms only a plan proposed for the same person,
and the two-person rule (``required_approvals``) — tried as two people in one chat would."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.conftest import make_token
from tests.support.world import World, make_world


@pytest.fixture
async def world(app_client: httpx.AsyncClient, shared_toolbox: str) -> World:
    return await make_world(app_client, shared_toolbox)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def send_as(world: World, token: str | None, text: str) -> dict[str, Any]:
    headers = bearer(token) if token else {}
    resp = await world.client.post(
        "/api/send", json={"chat_id": world.chat_id, "text": text}, headers=headers
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def confirm_as(world: World, token: str | None, run: dict[str, Any]) -> httpx.Response:
    return await world.client.post(
        f"/api/runs/{run['id']}/confirm",
        json={"plan_hash": run["plan_hash"]},
        headers=bearer(token) if token else {},
    )


async def run_of(world: World, run_id: str) -> dict[str, Any]:
    return dict((await world.client.get(f"/api/runs/{run_id}")).json())


async def set_settings(world: World, **settings: Any) -> None:
    resp = await world.client.patch(
        f"/api/projects/{world.project_id}", json={"settings": settings}
    )
    assert resp.status_code == 200, resp.text


# --- a typed "yes" is the proposer's own ----------------------------------------------------


async def test_admin_yes_does_not_confirm_the_operators_superseding_plan(world: World) -> None:
    operator = await make_token(world.client, "operator")
    admins = (await send_as(world, None, "/cmd box uname -a"))["run"]
    operators = (await send_as(world, operator, "/cmd box uptime"))["run"]
    assert (await run_of(world, admins["id"]))["status"] == "superseded"
    assert operators["proposed_for_name"].startswith("operator-")

    turn = await send_as(world, None, "yes")
    assert turn["run"] is None
    reply = turn["reply"]["content"]
    assert "proposed for operator-" in reply and "Confirm button" in reply
    assert (await run_of(world, operators["id"]))["status"] == "draft"
    assert (await world.state())["active_run_id"] is None
    # "sí", "ok", 👍 … are the same typed confirmation.
    for word in ("sí", "ok", "👍", "go ahead"):
        assert (await send_as(world, None, word))["run"] is None
    assert (await run_of(world, operators["id"]))["status"] == "draft"

    mine = await send_as(world, operator, "yes")
    assert mine["run"]["status"] == "queued"
    assert mine["run"]["confirmed_by"].startswith("operator-")


async def test_operator_yes_does_not_confirm_the_admins_plan(world: World) -> None:
    operator = await make_token(world.client, "operator")
    admins = (await send_as(world, None, "/cmd box uname -a"))["run"]
    turn = await send_as(world, operator, "dale")
    assert turn["run"] is None and "proposed for" in turn["reply"]["content"]
    assert (await run_of(world, admins["id"]))["status"] == "draft"
    # The card's button posts the hash: that path stays open to any operator.
    card = await confirm_as(world, operator, admins)
    assert card.status_code == 200 and card.json()["status"] == "queued"


async def test_the_refusal_is_in_the_chats_language(world: World) -> None:
    await world.client.patch(f"/api/chats/{world.chat_id}", json={"language": "es"})
    operator = await make_token(world.client, "operator")
    await send_as(world, operator, "/cmd box uptime")
    turn = await send_as(world, None, "sí")
    assert "se propuso para operator-" in turn["reply"]["content"]


async def test_a_typed_no_from_anyone_still_cancels(world: World) -> None:
    operator = await make_token(world.client, "operator")
    run = (await send_as(world, operator, "/cmd box uptime"))["run"]
    turn = await send_as(world, None, "no")
    assert turn["run"]["status"] == "cancelled"
    assert (await run_of(world, run["id"]))["status"] == "cancelled"


async def test_an_edited_plan_is_the_editors(world: World) -> None:
    operator = await make_token(world.client, "operator")
    run = (await send_as(world, None, "/cmd box uname -a"))["run"]
    step = run["steps"][0]
    edited = await world.client.post(
        f"/api/runs/{run['id']}/edit",
        json={
            "steps": [
                {**{k: step[k] for k in ("service", "operation")}, "arguments": {"cmd": "id"}}
            ]
        },
        headers=bearer(operator),
    )
    assert edited.status_code == 201, edited.text
    assert "proposed for" in (await send_as(world, None, "yes"))["reply"]["content"]
    assert (await send_as(world, operator, "yes"))["run"]["status"] == "queued"


async def test_a_plan_proposed_for_no_one_is_confirmed_only_on_its_card(world: World) -> None:
    """A reasoner's correction answers no one's message: nobody's typed "yes" confirms it."""
    from piloto.plans import service

    first = (await send_as(world, None, "/cmd box uname -a"))["run"]
    app = world.client.app  # type: ignore[attr-defined]
    proposed = await service.propose(
        app.state.db, app.state.registry, chat_id=world.chat_id, summary="corrected",
        steps_in=[{"service": "box", "operation": first["steps"][0]["operation"], "arguments": {"cmd": "uptime"}}],
        proposed_by="runner:reasoner", lang="en", ttl_s=600,
        corrects={"run_id": first["id"], "step_id": first["steps"][0]["id"], "index": 1},
    )  # fmt: skip
    correction = proposed.run
    assert correction.corrects == {
        "run_id": first["id"],
        "step_id": first["steps"][0]["id"],
        "index": 1,
    }
    assert "corrects failed step 1" in str((await world.messages())[-1]["content"])
    turn = await send_as(world, None, "yes")
    assert turn["run"] is None and "someone else" in turn["reply"]["content"]
    card = await confirm_as(world, None, correction.public())
    assert card.status_code == 200 and card.json()["status"] == "queued"


# --- the two-person rule --------------------------------------------------------------------


async def test_two_people_must_approve_a_destructive_plan(world: World) -> None:
    await set_settings(world, required_approvals={"destructive": 2})
    operator = await make_token(world.client, "operator")
    run = (await send_as(world, None, "/cmd box rm -f ./precious.txt"))["run"]
    assert run["risk"] == "destructive" and run["approvals_required"] == 2

    first = await confirm_as(world, None, run)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "draft"
    assert [a["by"] for a in body["approvals"]] == ["admin (PILOTO_ADMIN_TOKEN)"]
    assert "1 of 2 approvals" in str((await world.messages())[-1]["content"])
    assert (await world.state())["pending_run_id"] == run["id"]

    again = await confirm_as(world, None, run)
    assert again.status_code == 409 and again.json()["code"] == "already_approved"
    assert "already approved" in again.json()["detail"]
    typed = await send_as(world, None, "yes")  # the admin proposed it; typing counts the same
    assert "already approved" in typed["reply"]["content"]
    assert len((await run_of(world, run["id"]))["approvals"]) == 1

    viewer = await make_token(world.client, "viewer")
    assert (await confirm_as(world, viewer, run)).status_code == 403

    second = await confirm_as(world, operator, run)
    assert second.status_code == 200 and second.json()["status"] == "queued"
    final = await run_of(world, run["id"])
    assert len(final["approvals"]) == 2 and final["confirmed_by"].startswith("operator-")
    assert (await world.state())["active_run_id"] == run["id"]


async def test_a_plan_below_the_rule_needs_one_person(world: World) -> None:
    await set_settings(world, required_approvals={"destructive": 2})
    run = (await send_as(world, None, "/cmd box uname -a"))["run"]
    assert run["risk"] == "read" and run["approvals_required"] == 1
    assert (await send_as(world, None, "yes"))["run"]["status"] == "queued"


async def test_a_rule_on_a_lower_risk_covers_higher_ones(world: World) -> None:
    await set_settings(world, required_approvals={"write": 2})
    run = (await send_as(world, None, "/cmd box rm -f ./x.txt"))["run"]
    assert run["approvals_required"] == 2


async def test_raising_the_rule_applies_to_waiting_drafts(world: World) -> None:
    operator = await make_token(world.client, "operator")
    run = (await send_as(world, None, "/cmd box uname -a"))["run"]
    assert run["approvals_required"] == 1
    await set_settings(world, required_approvals={"read": 2})
    assert (await confirm_as(world, None, run)).json()["status"] == "draft"
    assert (await confirm_as(world, operator, run)).json()["status"] == "queued"


async def test_cancel_by_any_operator_cancels_a_half_approved_plan(world: World) -> None:
    await set_settings(world, required_approvals={"read": 2})
    operator = await make_token(world.client, "operator")
    run = (await send_as(world, None, "/cmd box uname -a"))["run"]
    assert (await confirm_as(world, None, run)).json()["status"] == "draft"
    resp = await world.client.post(f"/api/runs/{run['id']}/cancel", headers=bearer(operator))
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    late = await confirm_as(world, operator, run)
    assert late.status_code == 409 and late.json()["code"] == "not_draft"


async def test_no_auto_approval_in_place_of_required_people(world: World) -> None:
    await set_settings(world, auto_approve_reads=True, required_approvals={"read": 2})
    run = (await send_as(world, None, "/call box system_info {}"))["run"]
    assert run["status"] == "draft" and run["approved_by_policy"] is False


async def test_two_approvers_at_once_queue_exactly_once(world: World) -> None:
    await set_settings(world, required_approvals={"read": 2})
    people = [await make_token(world.client, "operator") for _ in range(3)]
    for _ in range(3):
        run = (await send_as(world, people[0], "/cmd box uname -a"))["run"]
        results = await asyncio.gather(*(confirm_as(world, p, run) for p in people[:2]))
        assert sorted(r.status_code for r in results) == [200, 200], [r.text for r in results]
        assert sorted(r.json()["status"] for r in results) == ["draft", "queued"]
        final = await run_of(world, run["id"])
        assert final["status"] == "queued" and len(final["approvals"]) == 2
        await world.client.post(f"/api/runs/{run['id']}/cancel")


async def test_an_approval_storm_queues_once_and_counts_each_person_once(world: World) -> None:
    await set_settings(world, required_approvals={"read": 3})
    people = [await make_token(world.client, "operator") for _ in range(4)]
    run = (await send_as(world, people[0], "/cmd box uname -a"))["run"]
    attempts = [confirm_as(world, p, run) for p in people for _ in range(3)]
    results = await asyncio.gather(*attempts)
    assert all(r.status_code in (200, 409) for r in results), [r.text for r in results]
    queued = [r for r in results if r.status_code == 200 and r.json()["status"] == "queued"]
    assert len(queued) == 1
    for r in results:
        if r.status_code == 409:
            assert r.json()["code"] in ("already_approved", "not_draft", "transition_rejected")
    final = await run_of(world, run["id"])
    assert final["status"] == "queued" and len(final["approvals"]) == 3
    assert len({a["by"] for a in final["approvals"]}) == 3
    confirms = [m for m in await world.messages() if "Confirmed by" in str(m["content"])]
    assert len(confirms) == 1


async def test_each_approval_is_audited(world: World) -> None:
    from piloto.audit.log import iter_audit

    await set_settings(world, required_approvals={"read": 2})
    operator = await make_token(world.client, "operator")
    run = (await send_as(world, None, "/cmd box uname -a"))["run"]
    await confirm_as(world, None, run)
    await confirm_as(world, operator, run)
    db = world.client.app.state.db  # type: ignore[attr-defined]
    async with db.read() as conn:
        records = [r async for r in iter_audit(conn) if r["run_id"] == run["id"]]
    actions = [(r["action"], r["actor"], r["outcome"]) for r in records]
    assert ("approve", "admin (PILOTO_ADMIN_TOKEN)", "1/2") in actions
    assert any(a == "confirm" and who.startswith("operator-") for a, who, _ in actions)
