"""An MCP tool that runs shell commands is a command operation: its commands pass the command
policy at proposal, and every MCP tool's arguments are checked against its inputSchema there
(before anyone is asked to confirm), through a real MCP server over stdio."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.instances import app_client
from tests.support.registry import invoke, new_project, registry_of

from piloto.llm.scripted import Reply, ScriptedLLM
from piloto.plans.validate import (
    CheckedStep,
    PlanInvalid,
    check_plan,
    command_of,
    is_command_operation,
)
from piloto.projects.models import ProjectSettings
from piloto.services.mcp_tools import mcp_command_field
from piloto.settings import Settings

SERVER = Path(__file__).with_name("mcp_command_server.py")


async def _setup(client: httpx.AsyncClient) -> str:
    pid = await new_project(client)
    resp = await client.post(
        "/api/services",
        json={
            "name": "shell", "kind": "mcp", "project_id": pid,
            "command": [sys.executable, str(SERVER)], "timeout_s": 60,
        },
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    return pid


async def _check(
    client: httpx.AsyncClient, pid: str, operation: str, arguments: dict[str, Any]
) -> list[CheckedStep]:
    registry = registry_of(client)
    async with registry.db.read() as conn:
        return await check_plan(
            conn, registry, project_id=pid, settings=ProjectSettings(),
            steps=[{"service": "shell", "operation": operation, "arguments": arguments}],
        )  # fmt: skip


async def test_run_command_tool_is_a_command_operation(app_client: httpx.AsyncClient) -> None:
    pid = await _setup(app_client)
    registry = registry_of(app_client)
    async with registry.db.read() as conn:
        tool = await registry.resolve(
            conn, project_id=pid, service="shell", operation="run_command"
        )
        adder = await registry.resolve(conn, project_id=pid, service="shell", operation="add")
    assert tool.spec.command_field == "command" and is_command_operation(tool.spec)
    assert not tool.spec.idempotent, "a command is never re-sent on its own"
    assert adder.spec.command_field is None and not is_command_operation(adder.spec)
    assert command_of({"command": "ls"}, tool.spec.command_field) == "ls"


@pytest.mark.parametrize(
    "command", ["rm -rf /", "rm -rf --no-preserve-root /", "sh -c 'rm -rf /'", ":(){ :|:& };:"]
)
async def test_catastrophic_commands_through_mcp_are_refused_at_proposal(
    app_client: httpx.AsyncClient, command: str
) -> None:
    pid = await _setup(app_client)
    with pytest.raises(PlanInvalid) as refused:
        await _check(app_client, pid, "run_command", {"command": command})
    assert "step 1" in refused.value.problems[0]


async def test_everyday_commands_are_proposed_at_their_risk(app_client: httpx.AsyncClient) -> None:
    pid = await _setup(app_client)
    [step] = await _check(app_client, pid, "run_command", {"command": "uptime"})
    assert step.is_command and step.risk == "read"
    [kill] = await _check(app_client, pid, "run_command", {"command": "kill -9 1234"})
    assert kill.is_command and kill.risk == "destructive"


async def test_mcp_arguments_are_checked_against_the_schema_at_proposal(
    app_client: httpx.AsyncClient,
) -> None:
    pid = await _setup(app_client)
    [ok] = await _check(app_client, pid, "add", {"a": 1, "b": 2})
    assert ok.kind == "mcp"
    for bad, reason in (
        ({"a": "one", "b": 2}, "must be an integer"),
        ({"a": 1}, "'b' is a required property"),
        ({"a": 1, "b": 2, "c": 3}, "unknown argument `c`"),
    ):
        with pytest.raises(PlanInvalid, match=reason):
            await _check(app_client, pid, "add", bad)


@pytest.mark.parametrize(
    ("name", "description", "props", "field"),
    [
        ("run_command", "", {"command": {"type": "string"}}, "command"),
        ("exec", "Execute on the host", {"cmd": {"type": "string"}}, "cmd"),
        ("do", "Runs a bash script", {"script": {"type": "string"}}, "script"),
        ("search", "Search documents", {"command": {"type": "string"}}, None),
        ("run_query", "Run SQL", {"sql": {"type": "string"}}, None),
        ("shell", "A shell", {"command": {"type": "integer"}}, None),
    ],
)
def test_command_field_detection(
    name: str,
    description: str,
    props: dict[str, Any],
    field: str | None,
) -> None:
    assert mcp_command_field(name, description, {"type": "object", "properties": props}) == field


async def test_mcp_results_are_redacted_too(app_client: httpx.AsyncClient) -> None:
    """A stdio server's credentials live in its environment; a tool that prints them back
    leaves ``services`` with the value redacted."""
    pid = await new_project(app_client)
    secret = "mcp-env-secret-24680"
    resp = await app_client.post(
        "/api/services",
        json={
            "name": "leaky", "kind": "mcp", "project_id": pid,
            "command": [sys.executable, str(SERVER)], "env": {"API_TOKEN": secret},
            "timeout_s": 60,
        },
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    result = await invoke(app_client, pid, "leaky", "show_env", name="API_TOKEN")
    assert result.ok, result.error
    assert secret not in str(result.body) and "API_TOKEN=[redacted]" in str(result.body)


async def test_the_model_proposing_rm_rf_through_mcp_gets_no_plan(
    settings: Settings, llm: ScriptedLLM
) -> None:
    """Through the whole turn: the (scripted) model asks the MCP tool to wipe the disk twice;
    nothing is proposed, so nothing can be confirmed, and the model is told why."""
    async with app_client(settings.model_copy(update={"llm_base_url": llm.base_url})) as client:
        pid = await _setup(client)
        chat = (await client.post("/api/chats", json={"project_id": pid, "title": "t"})).json()
        wipe = json.dumps(
            {
                "summary": "Free some space",
                "steps": [
                    {
                        "service": "shell",
                        "operation": "run_command",
                        "arguments": {"command": "rm -rf /"},
                    }
                ],
            }
        )
        llm.push(*[Reply(tool_calls=[("mcp_request", wipe)])] * 3)
        body = (
            await client.post("/api/send", json={"chat_id": chat["id"], "text": "free space"})
        ).json()
        assert body["run"] is None, body
        state = (await client.get(f"/api/chats/{chat['id']}")).json()["state"]
        assert state["pending_run_id"] is None
        told = [m for r in llm.requests[1:] for m in r["messages"] if m["role"] == "tool"]
        assert told and "step 1" in told[0]["content"]
