"""End to end: a confirmed plan calls httpbin, which echoes the service's credentials; the
credential appears nowhere Piloto keeps or forwards: step results, chat messages, the audit
trail, or what the (scripted) model receives afterwards."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.support.instances import app_client
from tests.support.waits import eventually

from piloto.llm.scripted import Reply, ScriptedLLM
from piloto.settings import Settings

API_KEY = "flow-S3cret-api-key-987"
BEARER = "flow-bearer-token-654321"


@pytest.fixture
async def client(settings: Settings, llm: ScriptedLLM) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings.model_copy(
        update={"llm_base_url": llm.base_url, "llm_max_retries": 0, "runner": True}
    )
    async with app_client(settings) as client:
        yield client


async def test_echoed_credential_is_nowhere(
    client: httpx.AsyncClient, llm: ScriptedLLM, httpbin_url: str
) -> None:
    project = (await client.post("/api/projects", json={"name": "Ops"})).json()["id"]
    chat = (await client.post("/api/chats", json={"project_id": project, "title": "t"})).json()
    registered = await client.post(
        "/api/services",
        json={
            "name": "echo", "kind": "openapi", "project_id": project, "base_url": httpbin_url,
            "doc_url": "/spec.json", "headers": {"X-API-Key": API_KEY}, "bearer_token": BEARER,
        },
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    plan = {
        "summary": "Show what the service receives",
        "steps": [
            {"service": "echo", "operation": "GET /headers", "arguments": {}},
            {"service": "echo", "operation": "GET /anything", "arguments": {}},
        ],
    }
    llm.push(Reply(tool_calls=[("mcp_request", json.dumps(plan))]))
    sent = await client.post("/api/send", json={"chat_id": chat["id"], "text": "headers?"})
    run = sent.json()["run"]
    assert run is not None and run["status"] == "draft", sent.text
    # Whatever the model is asked next (a follow-up turn, or the person's next question),
    # it answers plainly.
    for _ in range(4):
        llm.push(Reply(text="The service saw the usual headers."))
    confirmed = await client.post(
        f"/api/runs/{run['id']}/confirm", json={"plan_hash": run["plan_hash"]}
    )
    assert confirmed.status_code == 200, confirmed.text

    async def finished() -> dict[str, Any]:
        body: dict[str, Any] = (await client.get(f"/api/runs/{run['id']}")).json()
        return body if body["status"] in ("done", "error") else {}

    done: dict[str, Any] = await eventually(finished, "the run to finish")
    assert done["status"] == "done", done
    await client.post("/api/send", json={"chat_id": chat["id"], "text": "what did it see?"})

    run_text = json.dumps(done)
    assert "[redacted]" in run_text, "the step results should show where the secret was"
    messages = (await client.get(f"/api/chats/{chat['id']}/messages?limit=200")).json()
    audit = (await client.get("/api/audit", params={"limit": 500})).json()
    for where, text in (
        ("the run and its steps", run_text),
        ("the chat's messages", json.dumps(messages)),
        ("the audit trail", json.dumps(audit)),
        ("what the model received", json.dumps(llm.requests)),
    ):
        for secret in (API_KEY, BEARER):
            assert secret not in text, f"{secret!r} leaked into {where}"
    assert any("[redacted]" in json.dumps(r) for r in llm.requests[1:]), (
        "the model's later context should carry the (redacted) results"
    )
