"""Schedules: consent given once to a runbook's content, fired once per due time by one
instance, paused when the runbook changes, and never run past the approvals a project needs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from piloto.runbooks.scheduler import fire_due
from tests.conftest import make_token
from tests.runbooks.conftest import CMD, bearer, create, disk_runbook
from tests.support.instances import instance
from tests.support.waits import eventually
from tests.support.world import World, make_world

# Both instances decrypt the toolbox credentials with the same key.
SECRET = "runbooks-two-instances-shared-secret"
YEARLY = "0 3 1 1 *"  # never due by itself during a test: firings are driven with `at`


async def schedule(world: World, runbook_id: str, **extra: Any) -> httpx.Response:
    body = {"runbook_id": runbook_id, "chat_id": world.chat_id, "cron": YEARLY, **extra}
    return await world.client.post("/api/schedules", json=body)


async def fire(client: httpx.AsyncClient, at: float) -> list[str]:
    state = client.app.state  # type: ignore[attr-defined]
    return await fire_due(state.db, state.registry, state.settings, at=at)


async def get(world: World, path: str) -> dict[str, Any]:
    resp = await world.client.get(path)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"cron": "* * *"}, "five-field"),
        ({"cron": "61 * * * *"}, "five-field"),
        ({"cron": "* * * * * *"}, "five-field"),
        ({"timezone": "Mars/Olympus"}, "IANA"),
        ({"timezone": "../../etc/passwd"}, "IANA"),
    ],
)
async def test_invalid_cron_or_timezone_is_422_with_a_reason(
    world: World, extra: dict[str, str], words: str
) -> None:
    runbook = (await create(world, disk_runbook(world))).json()
    resp = await schedule(world, runbook["id"], **extra)
    assert resp.status_code == 422, resp.text
    assert words in resp.json()["detail"]


async def test_a_firing_runs_without_a_click_recorded_as_the_schedules(world: World) -> None:
    runbook = (await create(world, disk_runbook(world))).json()
    sched = (await schedule(world, runbook["id"], timezone="Europe/Madrid")).json()
    assert sched["status"] == "active" and sched["approved_by"] == ["admin (PILOTO_ADMIN_TOKEN)"]
    due = sched["next_run_at"]

    assert await fire(world.client, due - 1) == []
    [run_id] = await fire(world.client, due)
    run = await get(world, f"/api/runs/{run_id}")
    assert run["confirmed_by"].startswith("schedule disk-usage (approved by admin")
    assert [a["by"] for a in run["approvals"]] == sched["approved_by"]

    # Queued for the runner with no click (these tests run without one).
    assert run["status"] == "queued" and (await world.state())["active_run_id"] == run_id
    after = await get(world, f"/api/schedules/{sched['id']}")
    assert after["last_run"]["id"] == run_id and after["next_run_at"] > due
    # The same due time again fires nothing: the door moved.
    assert await fire(world.client, due) == []


async def test_piloto_down_across_many_firings_runs_once(world: World) -> None:
    runbook = (await create(world, disk_runbook(world))).json()
    resp = await world.client.post(
        "/api/schedules",
        json={"runbook_id": runbook["id"], "chat_id": world.chat_id, "cron": "* * * * *"},
    )
    sched = resp.json()
    # Three days of missed minutes, seen at once when the instance comes back.
    later = sched["next_run_at"] + 3 * 86400
    assert len(await fire(world.client, later)) == 1
    assert await fire(world.client, later) == []
    assert (await get(world, f"/api/schedules/{sched['id']}"))["next_run_at"] > later


async def test_a_runbook_changed_between_firings_pauses_its_schedule(world: World) -> None:
    runbook = (await create(world, disk_runbook(world))).json()
    sched = (await schedule(world, runbook["id"])).json()
    resp = await world.client.patch(
        f"/api/runbooks/{runbook['id']}",
        json={
            "steps": [{"service": "box", "operation": CMD, "arguments": {"cmd": "rm -rf {{path}}"}}]
        },
    )
    assert resp.status_code == 200, resp.text
    paused = await get(world, f"/api/schedules/{sched['id']}")
    assert paused["status"] == "paused" and "changed" in paused["paused_reason"]
    assert "changed" in str((await world.messages())[-1]["content"])
    assert await fire(world.client, sched["next_run_at"] + 60) == []
    # Resuming is refused: the consent was given to the old content.
    resp = await world.client.patch(f"/api/schedules/{sched['id']}", json={"enabled": False})
    resp = await world.client.patch(f"/api/schedules/{sched['id']}", json={"enabled": True})
    assert resp.status_code == 409
    # Approving again binds it to the new content.
    resp = await world.client.post(f"/api/schedules/{sched['id']}/approve")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "active" and resp.json()["risk"] == "destructive"


async def test_destructive_schedule_waits_for_distinct_approvers(world: World) -> None:
    resp = await world.client.patch(
        f"/api/projects/{world.project_id}",
        json={"settings": {"required_approvals": {"destructive": 2}}},
    )
    assert resp.status_code == 200, resp.text
    body = disk_runbook(world, name="clean")
    body["steps"][0]["arguments"] = {"cmd": "rm -rf ./scratch-{{path}}"}
    body["parameters"] = {"path": {"default": "x"}}
    runbook = (await create(world, body)).json()
    sched = (await schedule(world, runbook["id"])).json()
    assert sched["status"] == "pending_approval" and sched["approvals_required"] == 2
    assert await fire(world.client, sched["next_run_at"]) == []
    again = await world.client.post(f"/api/schedules/{sched['id']}/approve")
    assert again.status_code == 409
    op = bearer(await make_token(world.client, "operator"))
    resp = await world.client.post(f"/api/schedules/{sched['id']}/approve", headers=op)
    assert resp.status_code == 200 and resp.json()["status"] == "active"
    assert len(resp.json()["approved_by"]) == 2


async def test_a_viewer_cannot_schedule_or_approve(world: World) -> None:
    viewer = bearer(await make_token(world.client, "viewer"))
    runbook = (await create(world, disk_runbook(world))).json()
    body = {"runbook_id": runbook["id"], "chat_id": world.chat_id, "cron": YEARLY}
    assert (await world.client.post("/api/schedules", json=body, headers=viewer)).status_code == 403
    sched = (await schedule(world, runbook["id"])).json()
    resp = await world.client.post(f"/api/schedules/{sched['id']}/approve", headers=viewer)
    assert resp.status_code == 403
    listed = await world.client.get(
        "/api/schedules", params={"project_id": world.project_id}, headers=viewer
    )
    assert [s["id"] for s in listed.json()] == [sched["id"]]


async def test_two_instances_fire_a_due_schedule_once(
    database_url: str, tmp_path: Path, shared_toolbox: str
) -> None:
    async with (
        instance(database_url, tmp_path / "a", scheduler_poll_s=0, secret_key=SECRET) as a,
        instance(database_url, tmp_path / "b", scheduler_poll_s=0, secret_key=SECRET) as b,
    ):
        world = await make_world(a, shared_toolbox)
        runbook = (await create(world, disk_runbook(world))).json()
        sched = (await schedule(world, runbook["id"])).json()
        at = sched["next_run_at"] + 120
        results = await asyncio.gather(*(fire(c, at) for c in (a, b, a, b)))
        assert sum(len(r) for r in results) == 1


async def test_a_runbook_changed_after_a_firing_stops_the_next_one(world: World) -> None:
    runbook = (await create(world, disk_runbook(world))).json()
    sched = (await schedule(world, runbook["id"], cron="* * * * *")).json()
    [first] = await fire(world.client, sched["next_run_at"])
    await world.client.post(f"/api/runs/{first}/cancel")
    resp = await world.client.patch(f"/api/runbooks/{runbook['id']}", json={"summary": "other"})
    assert resp.status_code == 200
    assert await fire(world.client, sched["next_run_at"] + 3600) == []
    after = await get(world, f"/api/schedules/{sched['id']}")
    assert after["status"] == "paused" and after["last_run"]["id"] == first


async def test_approvals_raised_after_scheduling_leave_the_firing_to_people(world: World) -> None:
    body = disk_runbook(world, name="clean")
    body["steps"][0]["arguments"] = {"cmd": "rm -f ./scratch-{{path}}"}
    runbook = (await create(world, body)).json()
    sched = (await schedule(world, runbook["id"])).json()
    assert sched["status"] == "active"
    resp = await world.client.patch(
        f"/api/projects/{world.project_id}",
        json={"settings": {"required_approvals": {"destructive": 2}}},
    )
    assert resp.status_code == 200
    [run_id] = await fire(world.client, sched["next_run_at"])
    assert (await get(world, f"/api/runs/{run_id}"))["status"] == "draft"
    after = await get(world, f"/api/schedules/{sched['id']}")
    assert after["status"] == "paused" and "2 approvals" in after["paused_reason"]


async def test_a_firing_never_queues_beside_an_active_run(world: World) -> None:
    runbook = (await create(world, disk_runbook(world))).json()
    sched = (await schedule(world, runbook["id"])).json()
    busy = (await world.send("/cmd box uname -a")).json()["run"]
    resp = await world.client.post(
        f"/api/runs/{busy['id']}/confirm", json={"plan_hash": busy["plan_hash"]}
    )
    assert resp.status_code == 200
    [run_id] = await fire(world.client, sched["next_run_at"])
    assert (await get(world, f"/api/runs/{run_id}"))["status"] == "draft"
    assert (await world.state())["active_run_id"] == busy["id"]


async def test_a_schedule_cannot_post_into_another_projects_chat(world: World) -> None:
    runbook = (await create(world, disk_runbook(world))).json()
    other = (await world.client.post("/api/projects", json={"name": "Other"})).json()
    chat = (
        await world.client.post("/api/chats", json={"project_id": other["id"], "title": "x"})
    ).json()
    resp = await world.client.post(
        "/api/schedules", json={"runbook_id": runbook["id"], "chat_id": chat["id"], "cron": YEARLY}
    )
    assert resp.status_code == 422
    resp = await world.client.post(
        f"/api/runbooks/{runbook['id']}/start", json={"chat_id": chat["id"]}
    )
    assert resp.status_code == 422


async def test_a_scheduled_run_executes_on_the_runner_and_is_audited(
    database_url: str, tmp_path: Path, shared_toolbox: str
) -> None:
    async with instance(database_url, tmp_path / "a", runner=True, scheduler_poll_s=0) as a:
        world = await make_world(a, shared_toolbox)
        runbook = (await create(world, disk_runbook(world))).json()
        sched = (await schedule(world, runbook["id"])).json()
        [run_id] = await fire(a, sched["next_run_at"])

        async def finished() -> str | None:
            status = str((await get(world, f"/api/runs/{run_id}"))["status"])
            return status if status not in ("queued", "running") else None

        assert await eventually(finished, "the scheduled run ends") == "done"
        audit = (await a.get("/api/audit", params={"run_id": run_id})).json()
        entries = audit if isinstance(audit, list) else audit.get("entries", audit.get("items", []))
        confirms = [e for e in entries if e["action"] == "confirm"]
        assert confirms and confirms[0]["actor"] == f"schedule:{sched['id']}"


async def _refuse_new_runs(world: World, on: bool) -> None:
    """A database that fails the firing's insert of its run (as a full disk would)."""
    db = world.client.app.state.db  # type: ignore[attr-defined]
    async with db.write() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER no_runs BEFORE INSERT ON runs "
                    "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
                if on
                else text("DROP TRIGGER no_runs")
            )
        elif on:
            await conn.execute(
                text(
                    "CREATE FUNCTION no_runs() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER no_runs BEFORE INSERT ON runs "
                    "FOR EACH ROW EXECUTE FUNCTION no_runs()"
                )
            )
        else:
            await conn.execute(text("DROP TRIGGER no_runs ON runs"))
            await conn.execute(text("DROP FUNCTION no_runs()"))


async def test_a_firing_whose_write_fails_is_not_spent(world: World) -> None:
    # The door and the proposal commit together: a firing that could not write its run
    # leaves the schedule due, and the next pass fires it exactly once.
    runbook = (await create(world, disk_runbook(world))).json()
    sched = (await schedule(world, runbook["id"])).json()
    due = sched["next_run_at"]
    messages_before = len((await world.client.get(f"/api/chats/{world.chat_id}/messages")).json())

    await _refuse_new_runs(world, True)
    assert await fire(world.client, due) == []
    after = await get(world, f"/api/schedules/{sched['id']}")
    assert after["next_run_at"] == due and after["last_run"] is None
    assert after["status"] == "active"
    messages = (await world.client.get(f"/api/chats/{world.chat_id}/messages")).json()
    assert len(messages) == messages_before  # nothing half-said in the chat

    await _refuse_new_runs(world, False)
    [run_id] = await fire(world.client, due)
    assert (await get(world, f"/api/runs/{run_id}"))["status"] == "queued"
    assert await fire(world.client, due) == []
