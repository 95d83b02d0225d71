"""``/run NAME key=value …`` in a chat proposes a runbook as a draft, through the real app."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import make_token
from tests.runbooks.conftest import bearer, create, disk_runbook
from tests.support.world import World


async def _replies(world: World, text: str) -> tuple[dict[str, Any], str]:
    """Send ``text``; the answer and every reply's text joined."""
    resp = await world.send(text)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return body, "\n".join(m["content"] for m in body["replies"])


async def test_run_proposes_the_runbook_as_a_draft_with_the_argument_filled(world: World) -> None:
    assert (await create(world, disk_runbook(world))).status_code == 201
    body, _ = await _replies(world, "/run disk-usage path=/tmp")
    run = body["run"]
    assert run["status"] == "draft"
    assert run["summary"].startswith("disk-usage: ")
    assert run["steps"][0]["arguments"] == {"cmd": "du -s /tmp"}
    assert (await world.state())["pending_run_id"] == run["id"]
    # The default fills a parameter left out; a different capitalisation finds the same runbook.
    body, _ = await _replies(world, "/run DISK-USAGE")
    assert body["run"]["steps"][0]["arguments"] == {"cmd": "du -s ."}


async def test_quoted_names_and_values_are_read_as_a_shell_would(world: World) -> None:
    named = disk_runbook(world, name="disk usage now")
    assert (await create(world, named)).status_code == 201
    body, _ = await _replies(world, "/run 'disk usage now' \"path=/var/log\"")
    assert body["run"]["steps"][0]["arguments"] == {"cmd": "du -s /var/log"}


async def test_a_parameter_smuggling_a_second_command_proposes_nothing(world: World) -> None:
    assert (await create(world, disk_runbook(world))).status_code == 201
    attacks = (
        "/run disk-usage 'path=/tmp; rm -rf ~'",
        "/run disk-usage path=$(reboot)",
        "/run disk-usage 'path=`id`'",
        "/run disk-usage path=/tmp&&ls",
        "/run disk-usage 'path=a b'",
        "/run disk-usage 'path=x\nrm -rf /'",
    )
    for text in attacks:
        body, said = await _replies(world, text)
        assert body["run"] is None, text
        assert "plain word" in said, (text, said)
    assert (await world.state())["pending_run_id"] is None


async def test_unknown_runbook_lists_the_projects_runbooks_in_the_chats_language(
    world: World,
) -> None:
    _, said = await _replies(world, "/run disk-usage")
    assert "no runbooks yet" in said
    await create(world, disk_runbook(world))
    await create(world, disk_runbook(world, name="restart-web"))
    body, said = await _replies(world, "/run nope")
    assert body["run"] is None
    assert "nope" in said and "disk-usage, restart-web" in said
    resp = await world.client.patch(f"/api/chats/{world.chat_id}", json={"language": "es"})
    assert resp.status_code == 200, resp.text
    _, said = await _replies(world, "/run nope")
    assert "no tiene ningún runbook" in said and "disk-usage, restart-web" in said


async def test_bad_arguments_are_refused_with_the_reason(world: World) -> None:
    await create(world, disk_runbook(world))
    await create(world, disk_runbook(world, name="needs", parameters={"path": {}}))
    cases = {
        "/run disk-usage other=x": "other",  # unknown parameter, named with the known ones
        "/run needs": "path",  # no default and not given
        "/run disk-usage path=/a path=/b": "twice",
        "/run disk-usage path": "Usage",  # not key=value
        "/run disk-usage =x": "Usage",
        "/run 'disk-usage": "Usage",  # an unclosed quote
        "/run": "Usage",
    }
    for text, expected in cases.items():
        body, said = await _replies(world, text)
        assert body["run"] is None, text
        assert expected in said, (text, said)
    assert (await world.state())["pending_run_id"] is None


async def test_a_runbook_of_another_project_is_not_found(world: World) -> None:
    await create(world, disk_runbook(world))
    other = (await world.client.post("/api/projects", json={"name": "Other"})).json()
    chat = (
        await world.client.post("/api/chats", json={"project_id": other["id"], "title": "o"})
    ).json()
    resp = await world.client.post(
        "/api/send", json={"chat_id": chat["id"], "text": "/run disk-usage path=/tmp"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["run"] is None
    assert "no runbooks yet" in resp.json()["replies"][0]["content"]


async def test_the_policy_still_applies_to_a_runbook_proposed_by_run(world: World) -> None:
    # A parameter may be a whole argument of a non-command field, but a command stays a command
    # checked by the policy: a runbook edited to something the policy refuses is not proposed.
    runbook = (await create(world, disk_runbook(world))).json()
    resp = await world.client.patch(
        f"/api/runbooks/{runbook['id']}",
        json={"steps": [{"service": "box", "operation": "run_command",
                         "arguments": {"cmd": "rm -rf / --no-preserve-root"}}]},
    )  # fmt: skip
    assert resp.status_code == 422  # refused at save, so /run can only propose checked plans
    body, _ = await _replies(world, "/run disk-usage path=/tmp")
    assert body["run"]["steps"][0]["arguments"] == {"cmd": "du -s /tmp"}


async def test_a_viewer_cannot_run_and_help_lists_run(world: World) -> None:
    await create(world, disk_runbook(world))
    viewer = bearer(await make_token(world.client, "viewer"))
    assert (await world.send("/run disk-usage", **viewer)).status_code == 403
    assert (await world.state())["pending_run_id"] is None
    _, said = await _replies(world, "/help")
    assert "/run RUNBOOK key=value" in said


async def test_a_runbook_whose_operation_was_disabled_is_not_proposed(world: World) -> None:
    await create(world, disk_runbook(world))
    resp = await world.client.patch(
        f"/api/services/{world.service_id}/operations/run_command", json={"enabled": False}
    )
    assert resp.status_code == 200, resp.text
    body, said = await _replies(world, "/run disk-usage path=/tmp")
    assert body["run"] is None and "run_command" in said
    assert (await world.state())["pending_run_id"] is None


async def test_concurrent_runs_leave_exactly_one_pending_draft(world: World) -> None:
    # Six proposals race in one chat: each supersedes the one before (the chat's state row is
    # locked on PostgreSQL), so exactly one draft stays confirmable.
    await create(world, disk_runbook(world))
    sent = await asyncio.gather(*(world.send(f"/run disk-usage path=/d{i}") for i in range(6)))
    assert all(r.status_code == 200 for r in sent)
    ids = {r.json()["run"]["id"] for r in sent}
    assert len(ids) == 6
    pending = (await world.state())["pending_run_id"]
    assert pending in ids
    runs = [(await world.client.get(f"/api/runs/{i}")).json() for i in ids]
    assert sorted(r["status"] for r in runs) == ["draft"] + ["superseded"] * 5
