"""The scripted server's wire format: OpenAI-shaped bodies, chunks, errors, and broken streams."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

_CONTEXT_MESSAGE = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens. Please reduce the length of the messages."
)
# What a broken server can do to a stream (Reply.fault):
FAULTS = frozenset({"cut", "cut_tool", "no_done", "json_200", "html_200", "empty_choices"})


@dataclass
class Reply:
    """One scripted answer: text and/or tool calls, or an HTTP error."""

    text: str = ""
    # (name, raw arguments string): raw so tests can send malformed JSON.
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200
    retry_after: float | None = None
    delay_s: float = 0
    error_code: str | None = None
    error_message: str | None = None
    finish_reason: str | None = None  # default: "tool_calls" with tool calls, else "stop"
    chunk_chars: int = 8  # streamed text and arguments are split into pieces this long
    chunk_delay_s: float = 0  # pause between streamed chunks, to imitate token pacing
    # A broken server (see FAULTS): "cut" stops mid-text with no finish_reason and no [DONE];
    # "cut_tool" stops inside the tool call's arguments; "no_done" omits only [DONE];
    # "json_200" ignores `stream` and answers JSON; "html_200" answers an HTML page;
    # "empty_choices" streams chunks whose `choices` are empty.
    fault: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        """Build a Reply from JSON; tool call arguments may be a string or an object."""
        data = dict(data)
        calls = []
        for call in data.pop("tool_calls", []) or []:
            if isinstance(call, dict):
                name, args = call["name"], call.get("arguments", "")
            else:
                name, args = call
            calls.append((str(name), args if isinstance(args, str) else json.dumps(args)))
        return cls(tool_calls=calls, **data)


def _retry_headers(retry_after: float | None) -> dict[str, str]:
    if retry_after is None:
        return {}
    # Retry-After is whole seconds by the HTTP spec; OpenAI also sends milliseconds.
    return {
        "retry-after": str(max(0, math.ceil(retry_after))),
        "retry-after-ms": str(round(retry_after * 1000)),
    }


def _error(
    status: int,
    message: str,
    type_: str,
    code: str | None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _error_reply(reply: Reply, request: Request, headers: dict[str, str]) -> JSONResponse:
    """An error body shaped as OpenAI sends it for the reply's status and code."""
    status, code = reply.status, reply.error_code
    if code == "context_length_exceeded":
        message = reply.error_message or _CONTEXT_MESSAGE
        return _error(status, message, "invalid_request_error", code, headers, "messages")
    if status == 401:
        # Echo the presented key, as careless proxies do, so tests prove it never leaks.
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        message = reply.error_message or f"Incorrect API key provided: {presented}."
        return _error(status, message, "invalid_request_error", code or "invalid_api_key", headers)
    if status == 429:
        wait = f" Please try again in {reply.retry_after:g}s." if reply.retry_after else ""
        message = reply.error_message or f"Rate limit reached for requests.{wait}"
        return _error(status, message, "requests", code or "rate_limit_exceeded", headers)
    if status >= 500:
        message = reply.error_message or (
            "The server had an error while processing your request. Sorry about that!"
        )
        return _error(status, message, "server_error", code, headers)
    message = reply.error_message or f"scripted error {status}"
    return _error(status, message, "invalid_request_error", code, headers)


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _usage(reply: Reply) -> dict[str, int]:
    out = len(reply.text.split()) + sum(len(args) // 4 + 1 for _, args in reply.tool_calls)
    return {"prompt_tokens": 10, "completion_tokens": out, "total_tokens": 10 + out}


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _chunks(reply: Reply, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    """OpenAI-shaped chunks: role, text pieces, tool calls split over several deltas, finish."""
    cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
        }

    if reply.fault == "empty_choices":
        for _ in range(3):
            yield {**chunk({}), "choices": []}
        return
    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(reply.text, reply.chunk_chars):
        yield chunk({"content": piece})
    if reply.fault == "cut":
        return
    for index, (name, args) in enumerate(reply.tool_calls):
        head = {
            "index": index,
            "id": f"call_{uuid.uuid4().hex[:12]}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        yield chunk({"tool_calls": [head]})
        pieces = _pieces(args, reply.chunk_chars)
        if reply.fault == "cut_tool":
            pieces = pieces[: max(1, len(pieces) // 2)]
        for piece in pieces:
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        if reply.fault == "cut_tool":
            return
    yield chunk({}, _finish(reply))
    if include_usage:
        yield {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "usage": _usage(reply),
        }


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": name, "arguments": args},
            }
            for name, args in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
        ],
        "usage": _usage(reply),
    }
