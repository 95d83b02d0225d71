"""OpenAIChatClient through the real `openai` SDK against the scripted server on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, get_args

import pytest

from piloto.llm import ModelError, ModelErrorKind, OpenAIChatClient, ToolCall
from piloto.llm.scripted import Reply, ScriptedLLM

KEY = "sk-test-SECRET-0123456789abcdef"
MESSAGES = [
    {"role": "system", "content": "You are Piloto."},
    {"role": "user", "content": "How is the disk?"},
]
TOOL = {
    "type": "function",
    "function": {
        "name": "mcp_request",
        "description": "Propose a plan.",
        "parameters": {"type": "object", "properties": {"summary": {"type": "string"}}},
    },
}
PLAN_ARGS = json.dumps(
    {
        "summary": "Check disk usage",
        "steps": [
            {"service": "toolbox", "operation": "run_command", "arguments": {"cmd": "df -h"}}
        ],
    }
)

MakeClient = Callable[..., Awaitable[OpenAIChatClient]]


async def build_client(**kwargs: Any) -> OpenAIChatClient:
    # Building the SDK client reads CA certificates from disk: keep it off the event loop.
    return await asyncio.to_thread(lambda: OpenAIChatClient(**kwargs))


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
async def make_client(llm: ScriptedLLM) -> AsyncIterator[MakeClient]:
    made: list[OpenAIChatClient] = []

    async def make(**overrides: Any) -> OpenAIChatClient:
        kwargs: dict[str, Any] = {"base_url": llm.base_url, "api_key": KEY, "model": "test-model"}
        kwargs.update(overrides)
        client = await build_client(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_key_absent(err: ModelError) -> None:
    texts = [err.message("en"), err.message("es"), str(err), repr(err), err.detail or ""]
    texts.append("".join(traceback.format_exception(err)))
    for text in texts:
        assert KEY not in text
        assert "SECRET" not in text


async def test_streamed_text_reaches_on_text_in_pieces(
    llm: ScriptedLLM, make_client: MakeClient
) -> None:
    text = "The disk is 42% full; nothing to worry about."
    llm.push(Reply(text=text, chunk_chars=5))
    pieces: list[str] = []

    async def on_text(piece: str) -> None:
        pieces.append(piece)

    client = await make_client()
    result = await client.complete(MESSAGES, on_text=on_text)

    assert result.text == text
    assert len(pieces) > 3
    assert "".join(pieces) == text
    assert result.tool_calls == ()
    assert result.finish_reason == "stop"
    assert result.prompt_tokens == 10
    assert result.completion_tokens is not None
    body = llm.requests[-1]
    assert body["stream"] is True
    assert body["model"] == "test-model"
    assert body["messages"] == MESSAGES
    assert "tools" not in body


async def test_plain_reply_without_streaming(llm: ScriptedLLM, make_client: MakeClient) -> None:
    llm.push(Reply(text="All good."))
    pieces: list[str] = []

    async def on_text(piece: str) -> None:
        pieces.append(piece)

    client = await make_client(stream=False)
    result = await client.complete(MESSAGES, on_text=on_text)

    assert result.text == "All good."
    assert pieces == ["All good."]
    assert result.finish_reason == "stop"
    assert result.prompt_tokens == 10
    assert llm.requests[-1].get("stream") in (False, None)


@pytest.mark.parametrize("stream", [True, False])
async def test_tool_call_arguments_split_across_chunks(
    llm: ScriptedLLM, make_client: MakeClient, stream: bool
) -> None:
    llm.push(Reply(text="Let me check.", tool_calls=[("mcp_request", PLAN_ARGS)], chunk_chars=7))

    client = await make_client(stream=stream)
    result = await client.complete(MESSAGES, tools=[TOOL])

    assert result.text == "Let me check."
    assert len(result.tool_calls) == 1
    call = result.tool_calls[0]
    assert isinstance(call, ToolCall)
    assert call.name == "mcp_request"
    assert call.arguments == PLAN_ARGS
    assert call.id.startswith("call_")
    assert result.finish_reason == "tool_calls"
    assert llm.requests[-1]["tools"] == [TOOL]


@pytest.mark.parametrize("stream", [True, False])
async def test_two_tool_calls_in_one_response(
    llm: ScriptedLLM, make_client: MakeClient, stream: bool
) -> None:
    first = '{"service": "toolbox", "operation": "GET /health"}'
    second = '{"service": "toolbox", "operation": "GET /system/info", "arguments": {}}'
    llm.push(Reply(tool_calls=[("mcp_request", first), ("mcp_request", second)], chunk_chars=4))

    client = await make_client(stream=stream)
    result = await client.complete(MESSAGES, tools=[TOOL])

    assert [c.arguments for c in result.tool_calls] == [first, second]
    assert len({c.id for c in result.tool_calls}) == 2
    assert result.text == ""


async def test_malformed_arguments_arrive_raw(llm: ScriptedLLM, make_client: MakeClient) -> None:
    raw = "```json\n{'summary': 'x', steps: [ {\"service\": \"toolbox\","
    llm.push(Reply(tool_calls=[("mcp_request", raw)], chunk_chars=3))

    client = await make_client()
    result = await client.complete(MESSAGES, tools=[TOOL])

    assert result.tool_calls[0].arguments == raw


async def test_on_text_errors_propagate_unchanged(
    llm: ScriptedLLM, make_client: MakeClient
) -> None:
    llm.push(Reply(text="hello world"))

    async def on_text(piece: str) -> None:
        raise RuntimeError("browser went away")

    client = await make_client()

    with pytest.raises(RuntimeError, match="browser went away"):
        await client.complete(MESSAGES, on_text=on_text)


@pytest.mark.parametrize("stream", [True, False])
async def test_401_is_auth_and_never_shows_the_key(
    llm: ScriptedLLM, make_client: MakeClient, stream: bool
) -> None:
    llm.push(Reply(status=401))

    client = await make_client(stream=stream)

    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES)

    err = info.value
    assert err.kind == "auth"
    assert err.status == 401
    assert "PILOTO_LLM_API_KEY" in err.message("en")
    assert "PILOTO_LLM_API_KEY" in err.message("es")
    # The key was really sent, and the server echoed it back in its error body.
    assert llm.request_headers[-1]["authorization"] == f"Bearer {KEY}"
    assert len(llm.requests) == 1  # 401 is not retried
    assert_key_absent(err)


async def test_429_with_retry_after_is_rate_limited(
    llm: ScriptedLLM, make_client: MakeClient
) -> None:
    llm.push(Reply(status=429, retry_after=20))

    client = await make_client(max_retries=0)

    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES)

    err = info.value
    assert err.kind == "rate_limited"
    assert err.retry_after_s == 20
    assert "try again in 20 s" in err.message("en").lower()
    assert "20 s" in err.message("es")
    assert_key_absent(err)


async def test_429_is_retried_by_the_sdk_honouring_retry_after(
    llm: ScriptedLLM, make_client: MakeClient
) -> None:
    llm.push(Reply(status=429, retry_after=0.01), Reply(text="ok"))

    client = await make_client(max_retries=2)
    result = await client.complete(MESSAGES)

    assert result.text == "ok"
    assert len(llm.requests) == 2


@pytest.mark.parametrize("stream", [True, False])
async def test_500_is_server_after_the_sdk_retries(
    llm: ScriptedLLM, make_client: MakeClient, stream: bool
) -> None:
    llm.push(*[Reply(status=500, retry_after=0.01)] * 3)

    client = await make_client(max_retries=2, stream=stream)

    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES)

    err = info.value
    assert err.kind == "server"
    assert err.status == 500
    assert "(500)" in err.message("en")
    assert "(500)" in err.message("es")
    assert len(llm.requests) == 3  # the first try and two retries


async def test_context_length_exceeded(llm: ScriptedLLM, make_client: MakeClient) -> None:
    llm.push(Reply(status=400, error_code="context_length_exceeded"))

    client = await make_client()

    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES)

    err = info.value
    assert err.kind == "context_length"
    assert "too long" in err.message("en")
    assert "demasiado larga" in err.message("es")
    assert len(llm.requests) == 1


async def test_context_length_from_a_server_without_the_code(
    llm: ScriptedLLM, make_client: MakeClient
) -> None:
    # llama.cpp-style: no OpenAI error code, only the message says it.
    message = "the request exceeds the available context size, try increasing it"
    llm.push(Reply(status=400, error_message=message))

    client = await make_client()

    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES)

    assert info.value.kind == "context_length"


async def test_other_400_is_bad_request_with_the_servers_reason(
    llm: ScriptedLLM, make_client: MakeClient
) -> None:
    llm.push(Reply(status=400, error_message=f"model `nope` not found (key {KEY})"))

    client = await make_client()

    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES)

    err = info.value
    assert err.kind == "bad_request"
    assert "model `nope` not found" in err.message("en")
    assert_key_absent(err)


async def test_wrong_base_url_path_is_explained(llm: ScriptedLLM, make_client: MakeClient) -> None:
    client = await make_client(base_url=llm.base_url.removesuffix("/v1"))

    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES)

    err = info.value
    assert err.kind == "bad_request"
    assert err.status == 404
    assert "/v1" in err.message("en")


@pytest.mark.parametrize("stream", [True, False])
async def test_delay_beyond_the_timeout_is_timeout(
    llm: ScriptedLLM, make_client: MakeClient, stream: bool
) -> None:
    llm.push(Reply(text="too late", delay_s=30))

    client = await make_client(timeout_s=0.3, max_retries=0, stream=stream)

    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES)

    err = info.value
    assert err.kind == "timeout"
    assert "did not answer within 0.3 s" in err.message("en")
    assert "0.3 s" in err.message("es")


async def test_nothing_listening_is_unreachable() -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    client = await build_client(base_url=base_url, api_key=KEY, model="m", max_retries=0)
    try:
        with pytest.raises(ModelError) as info:
            await client.complete(MESSAGES)
    finally:
        await client.aclose()

    err = info.value
    assert err.kind == "unreachable"
    assert err.message("en") == (
        f"Could not reach the model at {base_url}: connection refused. Is the server running?"
    )
    assert "conexión rechazada" in err.message("es")
    assert_key_absent(err)


async def test_without_a_key_sends_a_placeholder_not_the_environments(
    llm: ScriptedLLM, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    llm.push(Reply(text="hi"))

    client = await make_client(api_key=None)
    result = await client.complete(MESSAGES)

    assert result.text == "hi"
    assert llm.request_headers[-1]["authorization"] == "Bearer not-needed"


async def test_repr_has_no_key_and_no_url_credentials(make_client: MakeClient) -> None:
    client = await make_client(base_url="http://user:hunter2@127.0.0.1:1/v1?token=abc")

    text = repr(client)

    assert KEY not in text
    assert "hunter2" not in text
    assert "token=abc" not in text
    assert "test-model" in text


def test_every_kind_has_english_and_spanish_messages() -> None:
    kinds: tuple[ModelErrorKind, ...] = get_args(ModelErrorKind)
    assert len(kinds) == 9
    for kind in kinds:
        err = ModelError(kind, status=500, base_url="http://127.0.0.1:9/v1", timeout_s=60)
        en, es = err.message("en"), err.message("es")
        assert en and es and en != es, kind
        assert err.message() == en == str(err)
        assert err.message("es-AR") == es
    assert ModelError("timeout", timeout_s=60).message() == (
        "The model did not answer within 60 s. Try again, or raise PILOTO_LLM_TIMEOUT_S "
        "for a slow local model."
    )
    assert ModelError("rate_limited", status=429).message().endswith("Try again in a moment.")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(text="half an ans", fault="cut"), "cut"),
        (Reply(tool_calls=[("mcp_request", PLAN_ARGS)], fault="cut_tool"), "cut_tool_call"),
        (Reply(text="whole", fault="json_200"), "not_stream"),
        (Reply(text="whole", fault="html_200"), "not_stream"),
        (Reply(text="whole", fault="empty_choices"), "empty"),
    ],
)
async def test_broken_streams_raise_incomplete(
    make_client: MakeClient, llm: ScriptedLLM, reply: Reply, reason: str
) -> None:
    client = await make_client(stream=True)
    llm.push(reply)
    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES, tools=[TOOL])
    assert info.value.kind == "incomplete" and info.value.reason == reason
    assert info.value.partial == ("half an ans" if reason == "cut" else "")


@pytest.mark.parametrize("stream", [True, False])
async def test_tool_call_cut_by_the_length_limit_is_refused(
    make_client: MakeClient, llm: ScriptedLLM, stream: bool
) -> None:
    client = await make_client(stream=stream)
    llm.push(Reply(tool_calls=[("mcp_request", PLAN_ARGS[:40])], finish_reason="length"))
    with pytest.raises(ModelError) as info:
        await client.complete(MESSAGES, tools=[TOOL])
    assert info.value.reason == "cut_tool_call"


async def test_finished_stream_without_done_is_whole(
    make_client: MakeClient, llm: ScriptedLLM
) -> None:
    client = await make_client(stream=True)
    llm.push(Reply(text="complete answer", fault="no_done"))
    assert (await client.complete(MESSAGES)).text == "complete answer"


async def test_model_per_call_and_listing(make_client: MakeClient, llm: ScriptedLLM) -> None:
    client = await make_client()
    llm.push(Reply(text="a"))
    await client.complete(MESSAGES, model="other-model")
    assert llm.requests[-1]["model"] == "other-model"
    assert await client.list_models() == ["scripted"]
    assert await client.list_models() == ["scripted"]  # cached
