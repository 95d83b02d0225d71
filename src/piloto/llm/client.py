"""One interface to chat models: OpenAI-compatible chat completions with tools and streaming."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from piloto.llm.errors import ModelError, map_openai_error, safe_url

log = logging.getLogger(__name__)

TextCallback = Callable[[str], Awaitable[None]]
MODELS_CACHE_S = 60.0


@dataclass(frozen=True)
class ToolCall:
    """One tool call as the model sent it; `arguments` is the raw string, unparsed."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Completion:
    """The model's whole answer to one request."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


class ChatModel(Protocol):
    """Anything that answers a chat: the OpenAI-compatible client, or a test double."""

    name: str

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        on_text: TextCallback | None = None,
        model: str | None = None,
    ) -> Completion:
        """Send the conversation (to `model`, else the default); stream text; return the answer."""
        ...


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIChatClient:
    """ChatModel over the `openai` SDK: OpenAI, Ollama, vLLM, llama.cpp server, LM Studio.

    Build it once at startup: the SDK reads CA certificates from disk when it is created.
    Retries (429, 5xx, connection errors, timeouts) are the SDK's, honouring Retry-After.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_s: float = 60,
        max_retries: int = 2,
        stream: bool = True,
    ) -> None:
        self.name = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.stream = stream
        # Local servers need no key, but the SDK insists on one; never fall back to
        # OPENAI_API_KEY from the environment, which could send a real key to a local server.
        self._api_key = api_key or "not-needed"
        self._models: tuple[float, list[str]] | None = None
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=self._api_key,
            timeout=timeout_s,
            max_retries=max_retries,
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIChatClient(base_url={safe_url(self.base_url)!r}, model={self.name!r}, "
            f"stream={self.stream!r})"
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        on_text: TextCallback | None = None,
        model: str | None = None,
    ) -> Completion:
        """Send the conversation (to `model`, else the default); stream text; return the answer."""
        params: dict[str, Any] = {
            "model": model or self.name,
            "messages": [dict(m) for m in messages],
        }
        if tools:
            params["tools"] = [dict(t) for t in tools]
        if self.stream:
            completion = await self._complete_streaming(params, on_text)
        else:
            completion = await self._complete_once(params, on_text)
        if completion.tool_calls and completion.finish_reason == "length":
            # Arguments cut by the output limit may still parse (or be "repaired") into a
            # different plan than the model meant: never propose from them.
            raise self._incomplete("cut_tool_call", completion.text)
        return completion

    async def list_models(self) -> list[str]:
        """The ids the endpoint's ``/models`` lists, cached for ``MODELS_CACHE_S``."""
        cached = self._models
        if cached is not None and time.monotonic() - cached[0] < MODELS_CACHE_S:
            return list(cached[1])
        try:
            page = await self._client.models.list()
            ids = sorted({m.id for m in page.data if getattr(m, "id", None)})
        except (openai.OpenAIError, ValueError) as exc:
            raise self._error(exc) from None
        self._models = (time.monotonic(), ids)
        return list(ids)

    def _incomplete(self, reason: str, partial: str) -> ModelError:
        err = ModelError(
            "incomplete",
            base_url=self.base_url,
            timeout_s=self.timeout_s,
            reason=reason,
            partial=partial,
        )
        log.warning("model answer incomplete: reason=%s chars=%d", reason, len(partial))
        return err

    def _error(self, exc: BaseException) -> ModelError:
        # Callers raise this `from None`: the SDK's exception can hold server text that
        # echoes the key, and a logged traceback would print it.
        err = map_openai_error(
            exc, base_url=self.base_url, timeout_s=self.timeout_s, secrets=(self._api_key,)
        )
        log.warning(
            "model call failed: kind=%s status=%s detail=%s", err.kind, err.status, err.detail
        )
        return err

    async def _complete_once(
        self, params: dict[str, Any], on_text: TextCallback | None
    ) -> Completion:
        try:
            response = cast(
                ChatCompletion, await self._client.chat.completions.create(**params, stream=False)
            )
        except (openai.OpenAIError, ValueError) as exc:
            raise self._error(exc) from None
        if not response.choices:
            raise ModelError(
                "bad_response",
                base_url=self.base_url,
                timeout_s=self.timeout_s,
                detail="no choices",
            )
        choice = response.choices[0]
        message = choice.message
        calls: list[ToolCall] = []
        for i, tc in enumerate(message.tool_calls or ()):
            if tc.type == "function":
                calls.append(
                    ToolCall(tc.id or f"call_{i}", tc.function.name, tc.function.arguments)
                )
            else:
                calls.append(ToolCall(tc.id or f"call_{i}", tc.custom.name, tc.custom.input))
        text = message.content or ""
        if text and on_text is not None:
            await on_text(text)
        usage = response.usage
        return Completion(
            text=text,
            tool_calls=tuple(calls),
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )

    async def _complete_streaming(
        self, params: dict[str, Any], on_text: TextCallback | None
    ) -> Completion:
        try:
            stream = cast(
                openai.AsyncStream[ChatCompletionChunk],
                await self._client.chat.completions.create(
                    **params, stream=True, stream_options={"include_usage": True}
                ),
            )
        except (openai.OpenAIError, ValueError) as exc:
            raise self._error(exc) from None
        text: list[str] = []
        calls: dict[int, _PartialCall] = {}
        chunk_count = 0
        saw_choice = False
        finish_reason: str | None = None
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        try:
            chunks = stream.__aiter__()
            while True:
                # Only the SDK's own failures become ModelError; on_text's propagate as they are.
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except (openai.OpenAIError, ValueError) as exc:
                    raise self._error(exc) from None
                chunk_count += 1
                if chunk.usage is not None:
                    prompt_tokens = chunk.usage.prompt_tokens
                    completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices or ():
                    if choice.index not in (0, None):
                        continue
                    saw_choice = True
                    delta = choice.delta
                    if delta is not None:
                        for tc in delta.tool_calls or ():
                            _accumulate(calls, tc)
                        if delta.content:
                            text.append(delta.content)
                            if on_text is not None:
                                await on_text(delta.content)
                    if choice.finish_reason is not None:
                        finish_reason = choice.finish_reason
        finally:
            await stream.close()
        if finish_reason is None:
            # A stream that just stops (no finish_reason; the SDK ends the same way with or
            # without [DONE]) is a broken answer, not a short one: say so, keep what came.
            partial = "".join(text)
            if chunk_count == 0:
                raise self._incomplete("not_stream", partial)
            if not saw_choice:
                raise self._incomplete("empty", partial)
            raise self._incomplete("cut_tool_call" if calls else "cut", partial)
        tool_calls = tuple(
            ToolCall(c.id or f"call_{i}", c.name, "".join(c.arguments))
            for i, c in sorted(calls.items())
        )
        return Completion(
            text="".join(text),
            tool_calls=tool_calls,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )


def _accumulate(calls: dict[int, _PartialCall], tc: ChoiceDeltaToolCall) -> None:
    """Merge one streamed tool-call delta into the call at its index."""
    index: int | None = tc.index
    if not isinstance(index, int):
        # Some servers omit the index: a new id starts a new call, otherwise extend the last.
        known = {c.id for c in calls.values()}
        new_call = not calls or (tc.id and tc.id not in known)
        index = len(calls) if new_call else max(calls)
    call = calls.setdefault(index, _PartialCall())
    if tc.id and not call.id:
        call.id = tc.id
    function = tc.function
    if function is None:
        return
    # Some servers repeat the whole name on every chunk instead of sending it once.
    if function.name and function.name != call.name:
        call.name += function.name
    if function.arguments:
        call.arguments.append(function.arguments)
