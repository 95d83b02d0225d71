"""Tool calls written as text by local models: a table of styles, each through the real parser.

The transcripts follow each family's chat template as served by Ollama / llama.cpp / vLLM
when the server does not turn the model's syntax into native `tool_calls`.
"""

from __future__ import annotations

import json

import pytest

from piloto.chat.textcalls import parse_text_calls
from piloto.chat.toolcall import plan_from_tool_calls

OFFERED = {"mcp_request"}
ARGS = {
    "summary": "Check the disks",
    "steps": [{"service": "box", "operation": "run_command", "arguments": {"cmd": "df -h"}}],
}
A = json.dumps(ARGS)

# (style, content the model wrote, expected preface)
TRANSCRIPTS = [
    (
        "hermes-qwen",
        f'I will check the disks.\n<tool_call>\n{{"name": "mcp_request", "arguments": {A}}}\n</tool_call>',
        "I will check the disks.",
    ),
    (
        "hermes-unclosed",  # Qwen cut at the stop token, before </tool_call>
        f'<tool_call>\n{{"name": "mcp_request", "arguments": {A}}}',
        "",
    ),
    ("llama3-bare", f'{{"name": "mcp_request", "parameters": {A}}}', ""),
    ("llama3-python-tag", f'<|python_tag|>{{"name": "mcp_request", "parameters": {A}}}', ""),
    (
        "llama3-with-prose",
        f'Sure. {{"name": "mcp_request", "parameters": {A}}} Confirm to run it.',
        "Sure.  Confirm to run it.",
    ),
    ("mistral-list", f'[TOOL_CALLS][{{"name": "mcp_request", "arguments": {A}}}]', ""),
    ("mistral-v11", f"[TOOL_CALLS]mcp_request[ARGS]{A}", ""),
    (
        "fenced-json",
        f'Here is the plan:\n```json\n{{"name": "mcp_request", "arguments": {A}}}\n```\nOK?',
        "Here is the plan:\n\nOK?",
    ),
    (
        "openai-shape-as-text",
        f'```\n{{"type": "function", "function": {{"name": "mcp_request", "arguments": {json.dumps(A)}}}}}\n```',
        "",
    ),
    (
        "single-quotes-repaired",
        "<tool_call>{'name': 'mcp_request', 'arguments': {'summary': 'Check the disks', "
        "'steps': [{'service': 'box', 'operation': 'run_command', 'arguments': {'cmd': 'df -h'}}]}}</tool_call>",
        "",
    ),
]


@pytest.mark.parametrize(
    ("style", "content", "preface"), TRANSCRIPTS, ids=[t[0] for t in TRANSCRIPTS]
)
def test_each_style_becomes_the_same_plan(style: str, content: str, preface: str) -> None:
    found = parse_text_calls(content, OFFERED)
    assert found is not None, style
    assert found.preface == preface
    assert [c.name for c in found.calls] == ["mcp_request"]
    plan = plan_from_tool_calls(found.calls)
    assert plan.summary == "Check the disks"
    assert plan.steps[0].arguments == {"cmd": "df -h"}


@pytest.mark.parametrize(
    "content",
    [
        "The disks are fine.",
        f'<tool_call>{{"name": "delete_everything", "arguments": {A}}}</tool_call>',  # not offered
        '{"name": "run_shell", "parameters": {"cmd": "rm -rf /"}}',  # not offered
        f"[TOOL_CALLS]other_tool[ARGS]{A}",
        'Use JSON like {"name": "Ana", "age": 3} in the form.',  # JSON, not a call
        '```json\n{"summary": "x"}\n```',  # a fenced object that names no tool
        "",
    ],
)
def test_text_that_is_not_an_offered_call_stays_text(content: str) -> None:
    assert parse_text_calls(content, OFFERED) is None


def test_two_hermes_calls_keep_their_order() -> None:
    second = json.dumps({**ARGS, "summary": "Second"})
    text = (
        f'<tool_call>{{"name": "mcp_request", "arguments": {A}}}</tool_call>\n'
        f'<tool_call>{{"name": "mcp_request", "arguments": {second}}}</tool_call>'
    )
    found = parse_text_calls(text, OFFERED)
    assert found is not None and len(found.calls) == 2
    assert len({c.id for c in found.calls}) == 2
    assert plan_from_tool_calls(found.calls).summary == "Check the disks; Second"


def test_broken_arguments_reach_validation_not_a_guess() -> None:
    # Cut inside a string: the same rule as native calls, no plan from a guess.
    found = parse_text_calls(
        '<tool_call>{"name": "mcp_request", "arguments": "{\\"summary\\": \\"x\\", \\"steps\\": [{\\"cmd\\": \\"rm -rf /tm',
        OFFERED,
    )
    assert found is not None
    with pytest.raises(ValueError):
        plan_from_tool_calls(found.calls)
