"""The scripted OpenAI-compatible server: wire format, script, and running it standalone."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from piloto.llm import ModelError, OpenAIChatClient
from piloto.llm.scripted import NO_REPLY_MESSAGE, Reply, ScriptedLLM, load_script

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


def sse_events(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.split("\n\n") if line.strip()]


def test_models_lists_the_model(llm: ScriptedLLM) -> None:
    response = httpx.get(f"{llm.base_url}/models")

    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == "scripted"


def test_streaming_chunks_look_like_openais(llm: ScriptedLLM) -> None:
    llm.push(Reply(text="hello world", tool_calls=[("mcp_request", '{"summary": "s"}')]))
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    body["stream_options"] = {"include_usage": True}

    response = httpx.post(f"{llm.base_url}/chat/completions", json=body)

    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["prompt_tokens"] > 0
    deltas = [c["choices"][0] for c in chunks[:-1]]
    assert "".join(d["delta"].get("content") or "" for d in deltas) == "hello world"
    tool_deltas = [tc for d in deltas for tc in d["delta"].get("tool_calls", [])]
    assert len(tool_deltas) > 2  # the arguments are split over several chunks
    head = tool_deltas[0]
    assert head["index"] == 0 and head["type"] == "function" and head["id"]
    assert head["function"]["name"] == "mcp_request"
    args = "".join(tc["function"]["arguments"] for tc in tool_deltas)
    assert args == '{"summary": "s"}'
    assert [d["finish_reason"] for d in deltas][-1] == "tool_calls"


def test_non_streaming_completion(llm: ScriptedLLM) -> None:
    llm.push(Reply(text="plain"))

    response = httpx.post(f"{llm.base_url}/chat/completions", json={"model": "m", "messages": []})

    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "plain"}
    assert data["choices"][0]["finish_reason"] == "stop"


def test_error_bodies_are_shaped_like_openais(llm: ScriptedLLM) -> None:
    llm.push(
        Reply(status=400, error_code="context_length_exceeded"), Reply(status=429, retry_after=2)
    )
    url = f"{llm.base_url}/chat/completions"

    first = httpx.post(url, json={"messages": []})
    second = httpx.post(url, json={"messages": []})

    assert first.status_code == 400
    error = first.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "messages"
    assert "maximum context length" in error["message"]
    assert second.status_code == 429
    assert second.headers["retry-after"] == "2"
    assert second.headers["retry-after-ms"] == "2000"


def test_replies_in_order_then_default_and_requests_recorded(llm: ScriptedLLM) -> None:
    llm.push(Reply(text="one"), Reply(text="two"))
    llm.default = Reply(text="ok")
    url = f"{llm.base_url}/chat/completions"

    texts = [
        httpx.post(url, json={"messages": [{"role": "user", "content": str(i)}]}).json()["choices"][
            0
        ]["message"]["content"]
        for i in range(4)
    ]

    assert texts == ["one", "two", "ok", "ok"]
    assert [r["messages"][0]["content"] for r in llm.requests] == ["0", "1", "2", "3"]


def test_responder_computes_replies_from_the_request(llm: ScriptedLLM) -> None:
    def echo(body: dict[str, Any]) -> Reply:
        return Reply(text="echo: " + body["messages"][-1]["content"])

    llm.responder(echo)

    response = httpx.post(
        f"{llm.base_url}/chat/completions",
        json={"messages": [{"role": "user", "content": "ping"}]},
    )

    assert response.json()["choices"][0]["message"]["content"] == "echo: ping"


async def test_empty_queue_is_a_clear_500_that_is_not_retried() -> None:
    async with ScriptedLLM() as llm:
        client = await asyncio.to_thread(
            lambda: OpenAIChatClient(base_url=llm.base_url, api_key=None, model="m", max_retries=2)
        )
        try:
            with pytest.raises(ModelError) as info:
                await client.complete(MESSAGES)
        finally:
            await client.aclose()
        assert info.value.kind == "server"
        assert info.value.detail == NO_REPLY_MESSAGE
        assert len(llm.requests) == 1


def test_base_url_needs_a_started_server() -> None:
    llm = ScriptedLLM()
    with pytest.raises(RuntimeError):
        _ = llm.base_url
    llm.stop()  # stopping a server that never started is harmless


def test_script_file_accepts_argument_objects(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    script = [
        {"text": "hello"},
        {"tool_calls": [{"name": "mcp_request", "arguments": {"summary": "s"}}]},
        {"tool_calls": [["mcp_request", "{broken"]]},
        {"status": 500},
    ]
    path.write_text(json.dumps(script))

    replies = load_script(path)

    assert replies[0] == Reply(text="hello")
    assert replies[1].tool_calls == [("mcp_request", '{"summary": "s"}')]
    assert replies[2].tool_calls == [("mcp_request", "{broken")]
    assert replies[3].status == 500


@pytest.mark.slow
def test_standalone_process_serves_script_then_text(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "from the script"}]))
    cmd = [sys.executable, "-m", "piloto.llm.scripted", "--port", "0", "--text", "hello"]
    proc = subprocess.Popen([*cmd, "--script", str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("scripted LLM listening on http://127.0.0.1:")
        base_url = line.split()[-1]

        client = OpenAIChatClient(base_url=base_url, api_key=None, model="m")

        async def ask_twice() -> list[str]:
            try:
                return [(await client.complete(MESSAGES)).text for _ in range(2)]
            finally:
                await client.aclose()

        assert asyncio.run(ask_twice()) == ["from the script", "hello"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        if proc.stdout is not None:
            proc.stdout.close()
