"""The mcp_request tool: lenient parsing, the accepted shapes, and the plan hash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from piloto.chat.toolcall import (
    MCP_REQUEST_TOOL,
    ProposedPlan,
    ProposedStep,
    ToolCallError,
    parse_arguments,
    plan_from_tool_calls,
    plan_hash,
    plan_json,
)
from piloto.llm import ToolCall

PLAN: dict[str, Any] = {
    "summary": "Check disk usage",
    "steps": [{"service": "toolbox", "operation": "run_command", "arguments": {"cmd": "df -h"}}],
}
P = json.dumps(PLAN)
SINGLE_QUOTED = P.replace('"', "'")
WITH_TRAILING_COMMAS = (
    '{"summary": "Check disk usage", "steps": [{"service": "toolbox", '
    '"operation": "run_command", "arguments": {"cmd": "df -h",},},],}'
)
UNQUOTED_KEYS = (
    '{summary: "Check disk usage", steps: [{service: "toolbox", '
    'operation: "run_command", arguments: {cmd: "df -h"}}]}'
)

REPAIRABLE = [
    pytest.param(P, id="plain"),
    pytest.param(f"  \n{P}\n ", id="whitespace"),
    pytest.param(f"```json\n{P}\n```", id="json-fence"),
    pytest.param(f"```\n{P}\n```", id="bare-fence"),
    pytest.param(f"```JSON\n{P}", id="unclosed-fence"),
    pytest.param(f"Here is the plan:\n```json\n{P}\n```\nShall I go ahead?", id="prose-and-fence"),
    pytest.param(f"Sure! {P}", id="leading-prose"),
    pytest.param(f"{P} Let me know if this looks right.", id="trailing-prose"),
    pytest.param(f"Plan: {P} -- done", id="prose-both-sides"),
    pytest.param(f"<tool_call>{P}</tool_call>", id="xml-tags"),
    pytest.param(P[:-1], id="truncated-one-brace"),
    pytest.param(P[:-2], id="truncated-bracket-and-brace"),
    pytest.param(P[:-3], id="truncated-three"),
    pytest.param(WITH_TRAILING_COMMAS, id="trailing-commas"),
    pytest.param(SINGLE_QUOTED, id="single-quotes"),
    pytest.param(UNQUOTED_KEYS, id="unquoted-keys"),
    pytest.param(json.dumps(P), id="double-encoded"),
    pytest.param(P.replace('"summary"', '// the plan\n"summary"'), id="comment"),
]


@pytest.mark.parametrize("raw", REPAIRABLE)
def test_repairable_arguments_parse_to_the_plan(raw: str) -> None:
    assert parse_arguments(raw) == PLAN


def test_python_literals_are_repaired() -> None:
    raw = "{'summary': 'x', 'steps': [], 'dry_run': True, 'limit': None, 'force': False}"

    assert parse_arguments(raw) == {
        "summary": "x",
        "steps": [],
        "dry_run": True,
        "limit": None,
        "force": False,
    }


def test_apostrophes_inside_strings_survive() -> None:
    assert parse_arguments('{"summary": "it\'s fine", "steps": [],}')["summary"] == "it's fine"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("[1, 2]", "a JSON array", id="array"),
        pytest.param('[{"service": "a", "operation": "b"}]', "a JSON array", id="array-of-steps"),
        pytest.param("42", "a number", id="number"),
        pytest.param("true", "a boolean", id="boolean"),
        pytest.param("null", "null", id="null"),
        pytest.param('"just a string"', "a string", id="string"),
        pytest.param("", "empty", id="empty"),
        pytest.param("   \n", "empty", id="blank"),
        pytest.param("I will check the disk now.", "not JSON", id="prose-only"),
        pytest.param(P[: P.index("df -h") + 2], "cut off inside a string", id="cut-in-a-string"),
        pytest.param(P[: P.index("toolbox") + 3], "cut off inside a string", id="cut-in-a-name"),
        pytest.param(P + P, "more than one JSON object", id="two-objects"),
    ],
)
def test_unusable_arguments_fail_with_a_message_for_the_model(raw: str, expected: str) -> None:
    with pytest.raises(ToolCallError) as info:
        parse_arguments(raw)

    assert expected in info.value.message
    assert isinstance(info.value, ValueError)


def test_a_command_cut_mid_string_is_never_completed() -> None:
    raw = P.replace("df -h", "rm -rf /tmp/build")[: P.index("df -h") + len("rm -rf /tm")]

    with pytest.raises(ToolCallError, match="cut off"):
        plan_from_tool_calls([call(raw)])


def call(arguments: str | dict[str, Any], name: str = "mcp_request", id: str = "c1") -> ToolCall:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(id=id, name=name, arguments=raw)


def test_plan_shape() -> None:
    plan = plan_from_tool_calls([call(PLAN)])

    assert plan == ProposedPlan(
        summary="Check disk usage",
        steps=[
            ProposedStep(service="toolbox", operation="run_command", arguments={"cmd": "df -h"})
        ],
    )


def test_single_step_at_top_level() -> None:
    step = {"service": "toolbox", "operation": "GET /health", "summary": "Is it up?"}

    plan = plan_from_tool_calls([call(step)])

    assert plan.summary == "Is it up?"
    assert plan.steps == [ProposedStep(service="toolbox", operation="GET /health")]


@pytest.mark.parametrize(
    ("args", "operation", "arguments"),
    [
        pytest.param(
            {"service": "toolbox", "method": "post", "path": "/command", "body": {"cmd": "uptime"}},
            "POST /command",
            {"body": {"cmd": "uptime"}},
            id="with-body",
        ),
        pytest.param(
            {"service": "toolbox", "method": "GET", "path": "/health", "body": None},
            "GET /health",
            {},
            id="no-body",
        ),
        pytest.param(
            {"service": "inv", "method": "GET", "path": "items", "query": {"limit": 5}},
            "GET /items",
            {"limit": 5},
            id="query",
        ),
        pytest.param(
            {
                "service": "inv",
                "method": "PUT",
                "path": "/items/{id}",
                "params": {"id": 3},
                "body": {"n": 1},
            },
            "PUT /items/{id}",
            {"id": 3, "body": {"n": 1}},
            id="params-and-body",
        ),
    ],
)
def test_original_single_call_shape(
    args: dict[str, Any], operation: str, arguments: dict[str, Any]
) -> None:
    plan = plan_from_tool_calls([call(args)])

    assert plan.steps == [
        ProposedStep(service=args["service"], operation=operation, arguments=arguments)
    ]
    assert plan.summary == f"{args['service']}: {operation}"


def test_original_shape_without_a_method_is_refused() -> None:
    with pytest.raises(ToolCallError, match="`method` is missing"):
        plan_from_tool_calls([call({"service": "toolbox", "path": "/health"})])


def test_several_calls_become_one_plan_in_order() -> None:
    first = {
        "summary": "Check health",
        "steps": [{"service": "toolbox", "operation": "GET /health"}],
    }
    second = {"service": "toolbox", "operation": "run_command", "arguments": {"cmd": "uptime"}}
    third = {
        "summary": "Disk",
        "steps": [{"service": "toolbox", "operation": "run_command", "arguments": {"cmd": "df"}}],
    }

    plan = plan_from_tool_calls([call(first, id="a"), call(second, id="b"), call(third, id="c")])

    assert [s.arguments.get("cmd") for s in plan.steps] == [None, "uptime", "df"]
    assert plan.summary == "Check health; Disk"


def test_missing_summary_is_derived_from_the_steps() -> None:
    args = {
        "steps": [
            {"service": "toolbox", "operation": "get /health"},
            {"service": "toolbox", "operation": "run_command", "arguments": {"cmd": "ls"}},
        ]
    }

    plan = plan_from_tool_calls([call(args)])

    assert plan.summary == "toolbox: GET /health; toolbox: run_command"
    assert plan.steps[0].operation == "GET /health"


def test_summary_is_one_line() -> None:
    plan = plan_from_tool_calls([call({**PLAN, "summary": "Check\n  disk\tusage "})])

    assert plan.summary == "Check disk usage"


def test_arguments_sent_as_a_json_string_are_decoded() -> None:
    step = {"service": "toolbox", "operation": "run_command", "arguments": '{"cmd": "ls"}'}

    plan = plan_from_tool_calls([call({"summary": "ls", "steps": [step]})])

    assert plan.steps[0].arguments == {"cmd": "ls"}


def test_unknown_tool_is_refused() -> None:
    with pytest.raises(ToolCallError) as info:
        plan_from_tool_calls([call(PLAN, name="run_shell")])

    assert info.value.message == "unknown tool `run_shell`; the only tool is mcp_request."


def test_unknown_tool_among_several_names_the_call() -> None:
    with pytest.raises(ToolCallError, match=r"^Call 2: unknown tool `x`"):
        plan_from_tool_calls([call(PLAN), call(PLAN, name="x")])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param({"summary": "x", "steps": []}, "at least 1", id="steps-empty"),
        pytest.param({"summary": "x"}, "need `steps`", id="no-steps"),
        pytest.param(
            {"summary": "x", "steps": [{"operation": "GET /health"}]},
            "step 1: `service` is missing",
            id="step-without-service",
        ),
        pytest.param(
            {"summary": "x", "steps": [{"service": "t", "operation": "a"}, {"service": "t"}]},
            "step 2: `operation` is missing",
            id="second-step-without-operation",
        ),
        pytest.param(
            {"summary": "x", "steps": [{"service": "", "operation": "a"}]},
            "step 1: `service`",
            id="service-empty",
        ),
        pytest.param(
            {"summary": "x", "steps": [{"service": "t", "operation": "run_command", "cmd": "ls"}]},
            "unexpected field `cmd`; put the operation's parameters inside `arguments`",
            id="misplaced-argument",
        ),
        pytest.param(
            {"summary": "x", "steps": [{"service": "t", "operation": "a", "arguments": [1]}]},
            "step 1: `arguments`",
            id="arguments-not-an-object",
        ),
        pytest.param(
            {"summary": "x", "steps": "run df"},
            "`steps` must be a list",
            id="steps-a-string",
        ),
        pytest.param(
            {"summary": "x", "steps": [{"service": "t", "operation": "a"}] * 21},
            "at most 20",
            id="too-many-steps",
        ),
    ],
)
def test_invalid_plans_explain_what_is_wrong(args: dict[str, Any], expected: str) -> None:
    with pytest.raises(ToolCallError) as info:
        plan_from_tool_calls([call(args)])

    assert expected in info.value.message
    assert '"steps"' in info.value.message  # the expected shape is shown


def test_no_tool_calls_is_an_error() -> None:
    with pytest.raises(ToolCallError):
        plan_from_tool_calls([])


def test_plan_hash_is_stable_under_key_order() -> None:
    a = plan_from_tool_calls([call(PLAN)])
    reordered = (
        '{"steps": [{"arguments": {"cmd": "df -h"}, "operation": "run_command", '
        '"service": "toolbox"}], "summary": "Check disk usage"}'
    )
    b = plan_from_tool_calls([call(reordered)])

    assert plan_json(a) == plan_json(b)
    assert plan_hash(a) == plan_hash(b)
    assert len(plan_hash(a)) == 64
    assert plan_json(a) == (
        '{"steps":[{"arguments":{"cmd":"df -h"},"operation":"run_command",'
        '"service":"toolbox"}],"summary":"Check disk usage"}'
    )


def test_plan_hash_is_stable_under_argument_key_order() -> None:
    one = ProposedPlan(
        summary="s", steps=[ProposedStep(service="t", operation="o", arguments={"a": 1, "b": 2})]
    )
    two = ProposedPlan(
        summary="s", steps=[ProposedStep(service="t", operation="o", arguments={"b": 2, "a": 1})]
    )

    assert plan_hash(one) == plan_hash(two)


def test_plan_hash_changes_when_an_argument_changes() -> None:
    other = json.loads(P)
    other["steps"][0]["arguments"]["cmd"] = "df -H"

    assert plan_hash(plan_from_tool_calls([call(PLAN)])) != plan_hash(
        plan_from_tool_calls([call(other)])
    )


def test_plan_json_keeps_non_ascii() -> None:
    plan = ProposedPlan(
        summary="Revisar el diseño", steps=[ProposedStep(service="t", operation="o")]
    )

    assert "diseño" in plan_json(plan)


def test_the_tool_definition_is_an_openai_function() -> None:
    function = MCP_REQUEST_TOOL["function"]
    params = function["parameters"]

    assert MCP_REQUEST_TOOL["type"] == "function"
    assert function["name"] == "mcp_request"
    assert params["required"] == ["summary", "steps"]
    assert params["properties"]["steps"]["maxItems"] == 20
    assert set(params["properties"]["steps"]["items"]["properties"]) == {
        "service",
        "operation",
        "arguments",
    }
    json.dumps(MCP_REQUEST_TOOL)  # serialisable as sent to the model
