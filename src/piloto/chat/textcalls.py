"""Tool calls that local models write as text in ``content`` (pure; tested on tables).

Ollama, llama.cpp and vLLM often pass a model's own tool-call syntax through as text:
Hermes/Qwen ``<tool_call>{…}</tool_call>``, Llama 3's bare ``{"name": …, "parameters": …}``,
Mistral's ``[TOOL_CALLS][…]`` (or ``[TOOL_CALLS]name[ARGS]{…}``), or a fenced JSON block.
Only calls naming an offered tool count; the text around them becomes the preface. The
arguments are returned raw, to go through the same parsing and validation as native calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import json_repair

from piloto.llm import ToolCall

_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_MISTRAL = re.compile(r"\[TOOL_CALLS\]\s*")
_MISTRAL_ARGS = re.compile(r"\[TOOL_CALLS\]\s*([A-Za-z0-9_.\-]+)\s*\[ARGS\]\s*")
_FENCE = re.compile(r"```(?:json|JSON|tool_call|tool)?[ \t]*\n(.*?)```", re.DOTALL)
_PYTHON_TAG = "<|python_tag|>"


@dataclass(frozen=True)
class TextCalls:
    """What was found: the text that is not a call, and the calls in order."""

    preface: str
    calls: tuple[ToolCall, ...]


def _load(text: str) -> Any:
    """JSON leniently: strict first, then repaired (the same leniency as native arguments)."""
    try:
        return json.loads(text)
    except ValueError:
        try:
            return json_repair.loads(text)
        except Exception:  # json_repair raises assorted errors on garbage
            return None


def _span(text: str, start: int) -> int:
    """The end of the balanced JSON value starting at ``start`` (or the end of the text)."""
    depth, quote, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def _name(raw: str, offered: frozenset[str]) -> str | None:
    name = raw.strip().removeprefix("functions.")
    return name if name in offered else None


def _envelope(value: Any, offered: frozenset[str]) -> tuple[str, str] | None:
    """{"name": …, "arguments"|"parameters": …} naming an offered tool → (name, raw arguments)."""
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        value = value["function"]  # the OpenAI wire shape, written out as text
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    name = _name(value["name"], offered)
    if name is None:
        return None
    args = value.get("arguments", value.get("parameters"))
    if args is None:
        return None
    raw = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return name, raw


def _envelopes(value: Any, offered: frozenset[str]) -> list[tuple[str, str]]:
    items = value if isinstance(value, list) else [value]
    found = [_envelope(v, offered) for v in items]
    return [f for f in found if f is not None]


def parse_text_calls(text: str, offered: Iterable[str]) -> TextCalls | None:
    """The tool calls written in ``text`` for the ``offered`` tools, or None when there are none."""
    names = frozenset(offered)
    if not text or not names:
        return None
    for finder in (_hermes, _mistral, _fenced, _bare):
        found = finder(text, names)
        if found is not None:
            calls, spans = found
            preface = text
            for start, end in sorted(spans, reverse=True):
                preface = preface[:start] + preface[end:]
            return TextCalls(
                preface=preface.replace(_PYTHON_TAG, "").strip(),
                calls=tuple(
                    ToolCall(f"call_text_{n}", name, raw) for n, (name, raw) in enumerate(calls)
                ),
            )
    return None


Found = tuple[list[tuple[str, str]], list[tuple[int, int]]]


def _hermes(text: str, names: frozenset[str]) -> Found | None:
    calls: list[tuple[str, str]] = []
    spans: list[tuple[int, int]] = []
    for match in _HERMES.finditer(text):
        got = _envelopes(_load(match.group(1)), names)
        if got:
            calls.extend(got)
            spans.append(match.span())
    return (calls, spans) if calls else None


def _mistral(text: str, names: frozenset[str]) -> Found | None:
    calls: list[tuple[str, str]] = []
    spans: list[tuple[int, int]] = []
    for match in _MISTRAL_ARGS.finditer(text):
        name = _name(match.group(1), names)
        end = _span(text, match.end())
        if name is not None:
            calls.append((name, text[match.end() : end]))
            spans.append((match.start(), end))
    if calls:
        return calls, spans
    for match in _MISTRAL.finditer(text):
        if match.end() >= len(text) or text[match.end()] not in "[{":
            continue
        end = _span(text, match.end())
        got = _envelopes(_load(text[match.end() : end]), names)
        if got:
            calls.extend(got)
            spans.append((match.start(), end))
    return (calls, spans) if calls else None


def _fenced(text: str, names: frozenset[str]) -> Found | None:
    for match in _FENCE.finditer(text):
        got = _envelopes(_load(match.group(1).strip()), names)
        if got:
            return got, [match.span()]
    return None


def _bare(text: str, names: frozenset[str]) -> Found | None:
    """Llama 3: a JSON object (or list of them) in the text, naming an offered tool."""
    i = 0
    while (i := _next_open(text, i)) >= 0:
        end = _span(text, i)
        got = _envelopes(_load(text[i:end]), names)
        if got:
            return got, [(i, end)]
        i += 1
    return None


def _next_open(text: str, start: int) -> int:
    """The next `{` or `[` that could open a call envelope."""
    for i in range(start, len(text)):
        if text[i] == "{" or (text[i] == "[" and text[i + 1 : i + 2].lstrip()[:1] in ("{", "")):
            return i
    return -1
