"""Cards that cannot lie: hidden characters refused in any argument at any depth, look-alikes
flagged, each step's risk shown with its reason, MCP arguments checked at proposal."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.world import World, make_world, toolbox

# A stdio MCP server (the SDK's) with typed tools, so its input schemas are real ones.
TYPED_SERVER = [
    sys.executable,
    "-c",
    "from mcp.server.mcpserver import MCPServer\n"
    "server = MCPServer('typed')\n"
    "@server.tool()\n"
    "def resize(volume: str, size_gb: int) -> str:\n"
    "    return f'{volume} -> {size_gb}'\n"
    "@server.tool()\n"
    "def tag(labels: dict[str, list[str]]) -> str:\n"
    "    return str(labels)\n"
    "server.run()\n",
]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "precious.txt").write_text("keep me\n")
    return tmp_path / "work"


@pytest.fixture
async def world(app_client: httpx.AsyncClient, workdir: Path) -> AsyncIterator[World]:
    async with toolbox(workdir) as url:
        yield await make_world(app_client, url)


async def call(
    world: World, operation: str, arguments: dict[str, Any], service: str = "box"
) -> Any:
    # json.dumps escapes the characters (\u202e): what a person could paste into the chat.
    return (await world.send(f"/call {service} {operation} {json.dumps(arguments)}")).json()


async def assert_refused(world: World, body: dict[str, Any], *needles: str) -> None:
    assert body["run"] is None, body["run"]
    reply = body["reply"]["content"]
    assert "could not propose" in reply
    for needle in needles:
        assert needle in reply, reply
    assert (await world.state())["pending_run_id"] is None


@pytest.mark.parametrize(
    ("arguments", "where"),
    [
        ({"cmd": "ls", "cwd": "logs\u202e"}, "`cwd`"),  # RTL override in a non-command argument
        ({"cmd": "ls", "cwd": "a\u2066b\u2069"}, "`cwd`"),  # isolates
        ({"cmd": "ls", "cwd": "x\u200by"}, "`cwd`"),  # zero-width space
        ({"cmd": "ls", "c\u200dwd": "x"}, "(name)"),  # in a key
        ({"cmd": "ls", "body": {"cwd": ["ok", "b\ufeffad"]}}, "`body.cwd[1]`"),  # any depth
    ],
)
async def test_hidden_characters_in_any_argument_are_refused(
    world: World, arguments: dict[str, Any], where: str
) -> None:
    body = await call(world, "run_command", arguments)
    await assert_refused(world, body, "invisible or direction-changing", where, "U+")


async def test_the_bidi_card_from_the_issue_is_refused(world: World, workdir: Path) -> None:
    cmd = 'echo "\u2067" ;rm -f ./precious.txt; echo "\u2066# \u2069\u2069"'
    body = (await world.send(f"/cmd box {cmd}")).json()
    await assert_refused(world, body, "U+2067")
    assert await asyncio.to_thread((workdir / "precious.txt").exists)


async def test_hidden_characters_through_the_edit_route(world: World) -> None:
    run = (await world.send("/cmd box uname -a")).json()["run"]
    step = run["steps"][0]
    resp = await world.client.post(
        f"/api/runs/{run['id']}/edit",
        json={
            "steps": [
                {
                    "service": step["service"],
                    "operation": step["operation"],
                    "arguments": {"cmd": "uname -a", "cwd": "\u202e"},
                }
            ]
        },
    )
    assert resp.status_code == 422 and resp.json()["code"] == "plan_invalid"
    assert "U+202E" in resp.json()["detail"]
    assert (await world.client.get(f"/api/runs/{run['id']}")).json()["status"] == "draft"


async def test_lookalikes_are_flagged_on_the_step_and_the_card(world: World) -> None:
    body = (await world.send("/cmd box cat /\u0435tc/hostname")).json()
    run = body["run"]
    assert run is not None, body["reply"]
    warnings = run["steps"][0]["warnings"]
    assert warnings and "U+0435" in warnings[0] and "CYRILLIC" in warnings[0]
    assert "⚠" in body["reply"]["content"] and "U+0435" in body["reply"]["content"]
    stored = (await world.client.get(f"/api/runs/{run['id']}")).json()
    assert stored["steps"][0]["warnings"] == warnings


async def test_lookalikes_in_other_arguments_are_flagged_too(world: World) -> None:
    run = (await call(world, "run_command", {"cmd": "ls", "cwd": "\u0455rv"}))["run"]
    assert run is not None
    assert any("`cwd`" in w and "U+0455" in w for w in run["steps"][0]["warnings"])


async def test_each_step_shows_its_risk_and_reason_and_the_plan_its_highest(
    world: World,
) -> None:
    read = (await world.send("/call box system_info {}")).json()["run"]
    assert read["risk"] == "read"
    assert "GET /system/info" in read["steps"][0]["risk_reason"]
    first = (await world.send("/cmd box uname -a")).json()["run"]
    step = first["steps"][0]
    assert step["risk"] == "read" and step["risk_reason"]
    resp = await world.client.post(
        f"/api/runs/{first['id']}/edit",
        json={
            "steps": [
                {"service": "box", "operation": step["operation"], "arguments": {"cmd": "uname -a"}},
                {"service": "box", "operation": step["operation"], "arguments": {"cmd": "rm -f ./precious.txt"}},
            ]
        },
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    both = resp.json()
    assert [s["risk"] for s in both["steps"]] == ["read", "destructive"]
    assert both["risk"] == "destructive"
    assert both["steps"][1]["risk_reason"] and both["steps"][1]["risk_reason"] != "write"
    messages = await world.messages()
    assert "(destructive: " in str(messages[-1]["content"])


async def test_the_step_reason_follows_the_chats_language(world: World) -> None:
    await world.client.patch(f"/api/chats/{world.chat_id}", json={"language": "es"})
    run = (await world.send("/call box system_info {}")).json()["run"]
    assert run["steps"][0]["risk_reason"].startswith("solo lee")


async def test_mcp_arguments_are_checked_against_the_schema_at_proposal(world: World) -> None:
    resp = await world.client.post(
        "/api/services",
        json={"name": "typed", "kind": "mcp", "command": TYPED_SERVER, "project_id": world.project_id},
    )  # fmt: skip
    assert resp.status_code == 201 and resp.json()["status"] == "online", resp.text
    wrong_type = await call(world, "resize", {"volume": "data", "size_gb": "lots"}, "typed")
    await assert_refused(world, wrong_type, "size_gb")
    missing = await call(world, "resize", {"volume": "data"}, "typed")
    await assert_refused(world, missing, "size_gb")
    extra = await call(world, "resize", {"volume": "d", "size_gb": 2, "force": True}, "typed")
    await assert_refused(world, extra, "unknown argument `force`")
    deep = await call(world, "tag", {"labels": {"env": ["prod", 3]}}, "typed")
    await assert_refused(world, deep, "labels")
    hidden = await call(world, "tag", {"labels": {"env": ["pro\u200bd"]}}, "typed")
    await assert_refused(world, hidden, "U+200B")
    good = await call(world, "resize", {"volume": "data", "size_gb": 2}, "typed")
    assert good["run"] is not None and good["run"]["status"] == "draft", good["reply"]
    assert "tool resize" in good["run"]["steps"][0]["risk_reason"]
