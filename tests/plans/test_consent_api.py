"""Invariant 1 (consent) and the compare-and-swap: try hard to confirm twice, or wrongly."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.conftest import make_token
from tests.support.world import World, make_world


@pytest.fixture
async def world(app_client: httpx.AsyncClient, shared_toolbox: str) -> World:
    return await make_world(app_client, shared_toolbox)


async def propose(world: World, cmd: str = "uname -a") -> dict[str, object]:
    resp = await world.send(f"/cmd box {cmd}")
    assert resp.status_code == 200, resp.text
    run = resp.json()["run"]
    assert run is not None, resp.json()
    assert run["status"] == "draft"
    return dict(run)


async def test_direct_mode_proposes_a_draft_with_hash(world: World) -> None:
    run = await propose(world)
    assert len(str(run["plan_hash"])) == 64
    assert (await world.state())["pending_run_id"] == run["id"]
    msgs = await world.messages()
    assert msgs[-1]["run_id"] == run["id"]
    assert "Proposed plan" in str(msgs[-1]["content"])
    assert "`uname -a`" in str(msgs[-1]["content"])


async def test_blocked_command_is_never_proposed(world: World) -> None:
    resp = await world.send("/cmd box rm -rf /")
    body = resp.json()
    assert body["run"] is None
    assert "could not propose" in body["reply"]["content"]
    assert (await world.state())["pending_run_id"] is None


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("yes", "queued"),
        ("sí", "queued"),
        ("dale", "queued"),
        ("no", "cancelled"),
        ("mejor no", "cancelled"),
    ],
)
async def test_chat_confirm_and_cancel(world: World, text: str, status: str) -> None:
    run = await propose(world)
    resp = await world.send(text)
    assert resp.status_code == 200
    assert resp.json()["run"]["status"] == status
    current = (await world.client.get(f"/api/runs/{run['id']}")).json()
    assert current["status"] == status
    state = await world.state()
    assert state["pending_run_id"] is None
    assert state["active_run_id"] == (run["id"] if status == "queued" else None)


async def test_ambiguous_keeps_the_draft(world: World) -> None:
    run = await propose(world)
    resp = await world.send("yes?")
    assert "did not run anything" in resp.json()["reply"]["content"]
    assert (await world.client.get(f"/api/runs/{run['id']}")).json()["status"] == "draft"


async def test_guards(world: World) -> None:
    resp = await world.send("yes")
    assert "no plan pending" in resp.json()["reply"]["content"]
    run = await propose(world)
    await world.send("yes")
    second = await propose(world, "uptime")
    resp = await world.send("yes")
    assert "already running" in resp.json()["reply"]["content"]
    assert (await world.client.get(f"/api/runs/{second['id']}")).json()["status"] == "draft"
    api = await world.client.post(
        f"/api/runs/{second['id']}/confirm", json={"plan_hash": second["plan_hash"]}
    )
    assert api.status_code == 409 and api.json()["code"] == "already_running"
    assert (await world.client.get(f"/api/runs/{run['id']}")).json()["status"] == "queued"


async def test_new_proposal_supersedes_the_pending_draft(world: World) -> None:
    first = await propose(world)
    second = await propose(world, "uptime")
    assert (await world.client.get(f"/api/runs/{first['id']}")).json()["status"] == "superseded"
    stale = await world.client.post(
        f"/api/runs/{first['id']}/confirm", json={"plan_hash": first["plan_hash"]}
    )
    assert stale.status_code == 409 and stale.json()["status"] == "superseded"
    assert "replaced" in str((await world.messages())[-1]["content"])
    assert (await world.state())["pending_run_id"] == second["id"]


async def test_confirm_with_another_hash_is_refused(world: World) -> None:
    run = await propose(world)
    resp = await world.client.post(f"/api/runs/{run['id']}/confirm", json={"plan_hash": "0" * 64})
    assert resp.status_code == 409
    assert resp.json()["code"] == "plan_hash_mismatch"
    assert (await world.client.get(f"/api/runs/{run['id']}")).json()["status"] == "draft"


async def test_viewer_cannot_confirm(world: World) -> None:
    run = await propose(world)
    viewer = await make_token(world.client, "viewer")
    resp = await world.client.post(
        f"/api/runs/{run['id']}/confirm",
        json={"plan_hash": run["plan_hash"]},
        headers={"Authorization": f"Bearer {viewer}"},
    )
    assert resp.status_code == 403
    send = await world.client.post(
        "/api/send",
        json={"chat_id": world.chat_id, "text": "yes"},
        headers={"Authorization": f"Bearer {viewer}"},
    )
    assert send.status_code == 403
    assert (await world.client.get(f"/api/runs/{run['id']}")).json()["status"] == "draft"


async def test_confirm_storm_queues_exactly_once(world: World) -> None:
    """50 concurrent confirmations: right hash, stale hash, and chat messages."""
    run = await propose(world)
    good = {"plan_hash": run["plan_hash"]}
    stale = {"plan_hash": "f" * 64}

    async def attempt(i: int) -> tuple[str, int, str]:
        if i % 3 == 0:
            r = await world.client.post(f"/api/runs/{run['id']}/confirm", json=good)
            return "api", r.status_code, r.json().get("code", r.json().get("status", ""))
        if i % 3 == 1:
            r = await world.client.post(f"/api/runs/{run['id']}/confirm", json=stale)
            return "stale", r.status_code, r.json().get("code", "")
        r = await world.send("sí" if i % 2 else "yes")
        return "chat", r.status_code, r.json()["reply"]["content"]

    results = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert (await world.client.get(f"/api/runs/{run['id']}")).json()["status"] == "queued"
    api_ok = [r for r in results if r[0] == "api" and r[1] == 200]
    chat_ok = [r for r in results if r[0] == "chat" and "Confirmed by" in r[2]]
    assert len(api_ok) + len(chat_ok) == 1, results
    for kind, code, detail in results:
        if kind == "stale":
            assert code == 409 and detail in (
                "plan_hash_mismatch",
                "not_draft",
                "transition_rejected",
            )
        if kind == "api" and code != 200:
            assert code == 409 and detail in ("not_draft", "transition_rejected")
    confirms = [m for m in await world.messages() if "Confirmed by" in str(m["content"])]
    assert len(confirms) == 1
    audit = [m for m in await world.messages() if m["role"] == "user"]
    assert len(audit) == 17  # every chat message was stored, none lost


async def test_confirm_racing_cancel_ends_in_exactly_one(world: World) -> None:
    for _ in range(5):
        run = await propose(world)
        confirm, cancel = await asyncio.gather(
            world.client.post(
                f"/api/runs/{run['id']}/confirm", json={"plan_hash": run["plan_hash"]}
            ),
            world.client.post(f"/api/runs/{run['id']}/cancel"),
        )
        final = (await world.client.get(f"/api/runs/{run['id']}")).json()["status"]
        if confirm.status_code == 200:
            # Cancel came second: it cancelled the queued run, which is a cancellation of a run, not a draft.
            assert final in ("queued", "cancelled")
            assert cancel.status_code in (200, 409)
        else:
            assert final == "cancelled" and cancel.status_code == 200
        if final == "queued":
            await world.client.post(f"/api/runs/{run['id']}/cancel")


async def test_idempotent_send_and_confirm(world: World) -> None:
    first = await world.send("/cmd box uptime", **{"Idempotency-Key": "k-1"})
    again = await world.send("/cmd box uptime", **{"Idempotency-Key": "k-1"})
    assert first.json() == again.json()
    users = [m for m in await world.messages() if m["role"] == "user"]
    assert len(users) == 1
    other = await world.send("/cmd box df -h", **{"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    run = first.json()["run"]
    url = f"/api/runs/{run['id']}/confirm"
    c1 = await world.client.post(
        url, json={"plan_hash": run["plan_hash"]}, headers={"Idempotency-Key": "c-1"}
    )
    c2 = await world.client.post(
        url, json={"plan_hash": run["plan_hash"]}, headers={"Idempotency-Key": "c-1"}
    )
    assert c1.status_code == c2.status_code == 200
    assert c1.json()["status"] == c2.json()["status"] == "queued"


async def test_edit_before_consent_makes_a_new_draft(world: World) -> None:
    run = await propose(world)
    step = run["steps"][0]  # type: ignore[index]
    resp = await world.client.post(
        f"/api/runs/{run['id']}/edit",
        json={
            "steps": [
                {
                    "service": step["service"],
                    "operation": step["operation"],
                    "arguments": {"cmd": "hostname"},
                }
            ]
        },
    )
    assert resp.status_code == 201, resp.text
    new = resp.json()
    assert new["plan_hash"] != run["plan_hash"] and new["supersedes_run_id"] == run["id"]
    assert (await world.client.get(f"/api/runs/{run['id']}")).json()["status"] == "superseded"
    bad = await world.client.post(
        f"/api/runs/{new['id']}/edit",
        json={
            "steps": [
                {
                    "service": step["service"],
                    "operation": step["operation"],
                    "arguments": {"cmd": "mkfs.ext4 /dev/sda"},
                }
            ]
        },
    )
    assert bad.status_code == 422 and bad.json()["code"] == "plan_invalid"
    assert (await world.client.get(f"/api/runs/{new['id']}")).json()["status"] == "draft"


async def test_expired_draft_cannot_be_confirmed(world: World) -> None:
    from sqlalchemy import update

    from piloto.store.schema import runs

    run = await propose(world)
    db = world.client.app.state.db  # type: ignore[attr-defined]
    async with db.write() as conn:
        await conn.execute(update(runs).where(runs.c.id == run["id"]).values(expires_at=1.0))
    resp = await world.client.post(
        f"/api/runs/{run['id']}/confirm", json={"plan_hash": run["plan_hash"]}
    )
    assert resp.status_code == 409 and resp.json()["code"] == "expired"
    assert (await world.client.get(f"/api/runs/{run['id']}")).json()["status"] == "expired"
    assert (await world.state())["pending_run_id"] is None


async def test_auto_approval_of_read_only_plans(world: World) -> None:
    settings = {"auto_approve_reads": True}
    assert (
        await world.client.patch(f"/api/projects/{world.project_id}", json={"settings": settings})
    ).status_code == 200
    resp = await world.send("/call box system_info {}")
    run = resp.json()["run"]
    assert run["status"] == "queued" and run["approved_by_policy"] is True
    cmd = await world.send("/cmd box uname -a")
    assert cmd.json()["run"]["status"] == "draft"  # commands never auto-approve


async def test_every_decision_is_audited(world: World) -> None:
    from piloto.audit.log import iter_audit, verify_chain

    run = await propose(world)
    await world.send("yes")
    db = world.client.app.state.db  # type: ignore[attr-defined]
    async with db.read() as conn:
        records = [r async for r in iter_audit(conn)]
        assert (await verify_chain(conn)).ok
    actions = [
        (r["action"], r["run_id"], r["plan_hash"]) for r in records if r["run_id"] == run["id"]
    ]
    assert ("propose", run["id"], run["plan_hash"]) in actions
    assert ("confirm", run["id"], run["plan_hash"]) in actions
    assert all(t.get("token") is None for t in records)
