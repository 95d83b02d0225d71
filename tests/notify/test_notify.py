"""Notifications out, against a real receiver: retries after a 500, a receiver that never
answers delays no turn, failures are visible to admins only, secrets never leave."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import make_token
from tests.notify.conftest import Hook
from tests.support.instances import app_client as open_app
from tests.support.settings import ADMIN_TOKEN
from tests.support.waits import eventually
from tests.support.world import World, make_world

from piloto.notify import enqueue
from piloto.settings import Settings
from piloto.store.db import Database


@pytest.fixture
async def world(app_client: httpx.AsyncClient, shared_toolbox: str) -> World:
    return await make_world(app_client, shared_toolbox)


async def _deliveries(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/notifications", params=params)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["deliveries"])


async def test_a_plan_waiting_is_delivered_after_a_500(
    world: World, hook: Hook, hook_paths: dict[str, str]
) -> None:
    resp = await world.send("/cmd box uname -a")
    run = resp.json()["run"]
    assert run["status"] == "draft"
    bodies = await eventually(lambda: hook.bodies(hook_paths["flaky"]), "a delivered body")
    assert hook.attempts[hook_paths["flaky"]] == 2  # the 500, then the retry
    body = bodies[0]
    assert body["event"] == "plan.awaiting_approval"
    assert body["run_id"] == run["id"] and body["chat_id"] == world.chat_id
    assert body["link"] == f"https://piloto.example/#/p/{world.project_id}/c/{world.chat_id}"
    assert body["link"] in body["text"] and "uname" in body["text"]
    rows = await eventually(lambda: _sent(world.client), "the delivery recorded as sent")
    assert rows[0]["attempts"] == 2 and rows[0]["last_error"] is None


async def _sent(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return await _deliveries(client, status="sent")


@pytest.fixture
def notify_urls(
    hook: Hook, hook_paths: dict[str, str], request: pytest.FixtureRequest
) -> list[str]:
    given = getattr(request, "param", "flaky")
    return given if isinstance(given, list) else [hook.url + hook_paths[given]]


@pytest.mark.parametrize("notify_urls", ["hang"], indirect=True)
async def test_a_receiver_that_never_answers_delays_no_turn(
    world: World, hook: Hook, hook_paths: dict[str, str]
) -> None:
    # Three turns while every delivery hangs: each answers, none waits for the receiver.
    for _ in range(3):
        resp = await world.send("/cmd box uname -a")
        assert resp.status_code == 200 and resp.json()["run"]["status"] == "draft"
    await eventually(
        lambda: hook.attempts.get(hook_paths["hang"], 0) >= 3, "the receiver to be tried"
    )

    async def timed_out() -> list[dict[str, Any]]:
        rows = await _deliveries(world.client)
        return [r for r in rows if r["last_error"] and "no answer within" in r["last_error"]]

    rows = await eventually(timed_out, "a timed-out attempt recorded")
    # The admin sees where it went, never the path (a webhook's secret lives there).
    assert rows[0]["destination"] == hook.url
    assert hook_paths["hang"] not in str(rows)


async def test_failures_are_for_admins_only(world: World) -> None:
    operator = await make_token(world.client, "operator")
    resp = await world.client.get(
        "/api/notifications", headers={"Authorization": f"Bearer {operator}"}
    )
    assert resp.status_code == 403


async def test_credentials_never_leave_in_the_body(
    app_client: httpx.AsyncClient, hook: Hook, hook_paths: dict[str, str]
) -> None:
    db: Database = app_client.app.state.db  # type: ignore[attr-defined]
    async with db.write() as conn:
        await enqueue(
            conn, event="run.failed", project_id=None, chat_id=None, run_id=None,
            text=f"token {ADMIN_TOKEN} leaked <!channel> & more",
        )  # fmt: skip
    bodies = await eventually(lambda: hook.bodies(hook_paths["flaky"]), "a delivered body")
    text = bodies[0]["text"]
    assert ADMIN_TOKEN not in str(bodies)
    # Slack's mention syntax stays text: no channel is pinged by a summary.
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; more" in text


@pytest.mark.parametrize("notify_urls", [["http://169.254.169.254/latest/hook"]], indirect=True)
async def test_a_metadata_address_is_refused(app_client: httpx.AsyncClient) -> None:
    db: Database = app_client.app.state.db  # type: ignore[attr-defined]
    async with db.write() as conn:
        await enqueue(
            conn, event="run.done", project_id=None, chat_id=None, run_id=None, text="done"
        )

    async def refused() -> list[dict[str, Any]]:
        return [r for r in await _deliveries(app_client) if r["last_error"]]

    rows = await eventually(refused, "the refused attempt recorded")
    assert "169.254.169.254" in rows[0]["destination"]
    assert "latest/hook" not in str(rows)


async def test_project_notify_urls_are_admin_only_and_http(
    world: World, hook: Hook, hook_paths: dict[str, str]
) -> None:
    operator = await make_token(world.client, "operator")
    url = f"/api/projects/{world.project_id}"
    resp = await world.client.patch(
        url, json={"settings": {"notify_urls": [hook.url + hook_paths["ok"]]}},
        headers={"Authorization": f"Bearer {operator}"},
    )  # fmt: skip
    assert resp.status_code == 403
    for bad in (["file:///etc/passwd"], ["javascript:alert(1)"], "http://x"):
        resp = await world.client.patch(url, json={"settings": {"notify_urls": bad}})
        assert resp.status_code == 422, resp.text
        assert "passwd" not in resp.text
    resp = await world.client.patch(
        url, json={"settings": {"notify_urls": [hook.url + hook_paths["ok"]]}}
    )
    assert resp.status_code == 200, resp.text
    await world.send("/cmd box uname -a")
    # Both the instance's receiver and the project's own get it.
    await eventually(lambda: hook.bodies(hook_paths["ok"]), "the project's receiver")
    await eventually(lambda: hook.bodies(hook_paths["flaky"]), "the instance's receiver")


async def test_a_webhook_url_path_is_shown_to_admins_only(world: World) -> None:
    secret_url = "https://hooks.example.com/services/T000/B000/s3cr3t-webhook-path"
    url = f"/api/projects/{world.project_id}"
    resp = await world.client.patch(url, json={"settings": {"notify_urls": [secret_url]}})
    assert resp.json()["settings"]["notify_urls"] == [secret_url]
    viewer = await make_token(world.client, "viewer")
    seen = []
    for path in (url, "/api/projects"):
        resp = await world.client.get(path, headers={"Authorization": f"Bearer {viewer}"})
        assert resp.status_code == 200
        seen.append(resp.text)
    assert all("s3cr3t" not in text and "hooks.example.com" in text for text in seen)


async def test_a_run_that_ends_is_told(
    settings: Settings, hook: Hook, hook_paths: dict[str, str], shared_toolbox: str
) -> None:
    async with open_app(settings.model_copy(update={"runner": True})) as client:
        world = await make_world(client, shared_toolbox)
        run = (await world.send("/cmd box uname -a")).json()["run"]
        assert (await world.send("yes")).json()["run"]["status"] == "queued"

        def events() -> list[str]:
            return [
                b["event"] for b in hook.bodies(hook_paths["flaky"]) if b["run_id"] == run["id"]
            ]

        await eventually(lambda: "run.done" in events(), "run.done delivered")
        assert sorted(events()) == ["plan.awaiting_approval", "run.done"]


@pytest.mark.parametrize("notify_urls", ["down"], indirect=True)
async def test_a_receiver_that_stays_down_ends_failed_after_the_last_try(
    settings: Settings, hook: Hook, hook_paths: dict[str, str], shared_toolbox: str
) -> None:
    async with open_app(settings.model_copy(update={"notify_max_attempts": 3})) as client:
        world = await make_world(client, shared_toolbox)
        await world.send("/cmd box uname -a")

        async def failed() -> list[dict[str, Any]]:
            return await _deliveries(client, status="failed")

        rows = await eventually(failed, "the delivery marked failed")
        assert rows[0]["attempts"] == 3 and rows[0]["last_error"] == "HTTP 500"
        assert hook.attempts[hook_paths["down"]] == 3  # and not one more
        counts = (await client.get("/api/notifications")).json()["counts"]
        assert counts == {"failed": 1}
