"""A schedule that pauses by itself tells the notification receivers, once per pause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from piloto.settings import Settings
from piloto.store.schema import notifications
from tests.notify.conftest import Hook, hook, hook_paths  # noqa: F401 (fixtures)
from tests.runbooks.conftest import create, disk_runbook
from tests.runbooks.test_schedules import fire, schedule
from tests.support.settings import make_settings
from tests.support.waits import eventually
from tests.support.world import World


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    hook: Hook,  # noqa: F811
    hook_paths: dict[str, str],  # noqa: F811
) -> Settings:
    return make_settings(
        data_dir=tmp_path / "data", database_url=database_url,
        notify_urls=[hook.url + hook_paths["ok"]], notify_retry_base_s=0.05, notify_poll_s=0.2,
        notify_timeout_s=1.0, public_url="https://piloto.example",
    )  # fmt: skip


def _paused(hook: Hook, path: str) -> list[dict[str, Any]]:  # noqa: F811
    return [b for b in hook.bodies(path) if b["event"] == "schedule.paused"]


async def _enqueued(client: httpx.AsyncClient) -> int:
    """``schedule.paused`` notifications in the outbox: what receivers will hear, sent or not."""
    db = client.app.state.db  # type: ignore[attr-defined]
    async with db.read() as conn:
        query = select(func.count()).where(notifications.c.event == "schedule.paused")
        return int((await conn.execute(query)).scalar_one())


async def test_a_changed_runbook_pauses_its_schedule_and_says_so_once(
    world: World,
    hook: Hook,  # noqa: F811
    hook_paths: dict[str, str],  # noqa: F811
) -> None:
    runbook = (await create(world, disk_runbook(world))).json()
    sched = (await schedule(world, runbook["id"])).json()
    resp = await world.client.patch(f"/api/runbooks/{runbook['id']}", json={"summary": "other"})
    assert resp.status_code == 200, resp.text
    [body] = await eventually(lambda: _paused(hook, hook_paths["ok"]), "schedule.paused sent")
    assert body["chat_id"] == world.chat_id and "disk-usage" in body["text"]
    assert "changed" in body["text"]
    assert body["link"] == f"https://piloto.example/#/p/{world.project_id}/c/{world.chat_id}"
    # Editing it again while paused, and a firing that finds it paused, pause nothing more.
    resp = await world.client.patch(f"/api/runbooks/{runbook['id']}", json={"summary": "third"})
    assert resp.status_code == 200
    assert await fire(world.client, sched["next_run_at"] + 60) == []
    assert await _enqueued(world.client) == 1


async def test_a_refused_edit_pauses_and_tells_nothing(
    world: World,
    hook: Hook,  # noqa: F811
    hook_paths: dict[str, str],  # noqa: F811
) -> None:
    runbook = (await create(world, disk_runbook(world))).json()
    sched = (await schedule(world, runbook["id"])).json()
    bad = {"steps": [{"service": "box", "operation": "nope", "arguments": {}}]}
    resp = await world.client.patch(f"/api/runbooks/{runbook['id']}", json=bad)
    assert resp.status_code == 422
    resp = await world.client.get(f"/api/schedules/{sched['id']}")
    assert resp.json()["status"] == "active"
    assert await _enqueued(world.client) == 0


async def test_a_firing_paused_for_missing_approvals_tells_the_receivers(
    world: World,
    hook: Hook,  # noqa: F811
    hook_paths: dict[str, str],  # noqa: F811
) -> None:
    body = disk_runbook(world, name="clean")
    body["steps"][0]["arguments"] = {"cmd": "rm -f ./scratch-{{path}}"}
    runbook = (await create(world, body)).json()
    sched = (await schedule(world, runbook["id"])).json()
    resp = await world.client.patch(
        f"/api/projects/{world.project_id}",
        json={"settings": {"required_approvals": {"destructive": 2}}},
    )
    assert resp.status_code == 200
    [run_id] = await fire(world.client, sched["next_run_at"])
    [sent] = await eventually(lambda: _paused(hook, hook_paths["ok"]), "schedule.paused sent")
    assert "2 approvals" in sent["text"] and sent["chat_id"] == world.chat_id
    assert run_id  # the draft waits for people; the pause is what the receivers hear
