"""The `mcp_request` tool: its schema for the model, and turning its calls into a plan.

Errors raised here are written for the MODEL: they go back as the tool result so it can
correct itself, so they say what is wrong and the expected shape, briefly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import json_repair
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from piloto.llm import ToolCall
from piloto.plans import plan as plans_plan

TOOL_NAME = "mcp_request"
MAX_STEPS = 20
MAX_SUMMARY_CHARS = 300
EXPECTED_SHAPE = (
    '{"summary": "one line", "steps": [{"service": "name", '
    '"operation": "operationId or METHOD /path", "arguments": {}}]}'
)

MCP_REQUEST_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": (
            "Propose a plan of calls to registered tool services. Nothing runs until a person "
            "confirms the plan, so propose only what is needed and explain it in `summary`. "
            "Use only services and operations from the catalogue. To run a shell command, use "
            'the toolbox\'s "run_command" (or "POST /command") with arguments {"cmd": "..."}.'
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "summary": {
                    "type": "string",
                    "description": "One line for the person: what the plan does and why.",
                },
                "steps": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_STEPS,
                    "description": "Calls to make, in order.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "service": {
                                "type": "string",
                                "description": "Name of a registered service.",
                            },
                            "operation": {
                                "type": "string",
                                "description": 'The operationId, or "METHOD /path".',
                            },
                            "arguments": {
                                "type": "object",
                                "description": (
                                    "The operation's parameters by name (path, query, and "
                                    "request body fields)."
                                ),
                            },
                        },
                        "required": ["service", "operation", "arguments"],
                    },
                },
            },
            "required": ["summary", "steps"],
        },
    },
}

_METHOD_PATH = re.compile(r"(?i)^(get|post|put|patch|delete|head|options)\s+(/\S*)$")
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)


class ToolCallError(ValueError):
    """The tool call cannot become a plan; the message is for the model to correct itself."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProposedStep(BaseModel):
    """One call the model proposes: a service, one of its operations, and arguments."""

    # Misplaced parameters next to `service` would otherwise be dropped silently.
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1)
    operation: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)

    @field_validator("service", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("operation", mode="before")
    @classmethod
    def _normalise_operation(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if match := _METHOD_PATH.match(value):
            return f"{match.group(1).upper()} {match.group(2)}"
        return value

    @field_validator("arguments", mode="before")
    @classmethod
    def _decode_arguments(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, str):
            # Models sometimes send the arguments object as a JSON string.
            try:
                decoded = json.loads(value)
            except ValueError:
                return value
            return decoded if isinstance(decoded, dict) else value
        return value


class ProposedPlan(BaseModel):
    """What the model proposes; a person confirms exactly this (see plan_hash)."""

    summary: str = Field(min_length=1)
    steps: list[ProposedStep] = Field(min_length=1, max_length=MAX_STEPS)

    @field_validator("summary", mode="before")
    @classmethod
    def _one_line(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = " ".join(value.split())
        if len(value) > MAX_SUMMARY_CHARS:
            value = value[: MAX_SUMMARY_CHARS - 1] + "…"
        return value


def parse_arguments(raw: str) -> dict[str, Any]:
    """Parse a tool call's arguments leniently (fences, prose, small JSON slips) into an object."""
    text = raw.strip()
    if not text:
        raise ToolCallError(f"The arguments are empty. Send a JSON object: {EXPECTED_SHAPE}")
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = _repair(text)
    if isinstance(value, str) and value.strip()[:1] in ("{", "`"):
        # Double-encoded: a JSON string that holds the object.
        value = parse_arguments(value)
    if not isinstance(value, dict):
        raise ToolCallError(
            f"The arguments must be a JSON object; got {_describe(value)}. "
            f"Expected: {EXPECTED_SHAPE}"
        )
    return value


def _repair(text: str) -> Any:
    fenced = _FENCE.search(text)
    if fenced is not None and "{" in fenced.group(1):
        text = fenced.group(1).strip()
    start = text.find("{")
    if start < 0:
        # No object at all; let the caller report what it is, if anything.
        try:
            return json_repair.loads(text)
        except Exception:  # json_repair raises assorted errors on garbage
            return None
    candidate, closed, cut_in_string = _first_object(text[start:])
    if cut_in_string:
        # Closing a string that was cut off could change its meaning (a command cut
        # at "rm -rf /tm" must not become "rm -rf /tm"), so this is not repaired.
        raise ToolCallError(
            "The arguments were cut off inside a string value. Send the complete JSON "
            f"object again: {EXPECTED_SHAPE}"
        )
    rest = text[start + len(candidate) :]
    if closed and "{" in rest and _first_object(rest[rest.index("{") :])[1]:
        # Guessing which of two objects was meant could run the wrong thing.
        raise ToolCallError(
            "The arguments hold more than one JSON object. Send one object, with every "
            f"call in `steps`: {EXPECTED_SHAPE}"
        )
    try:
        return json_repair.loads(candidate)
    except Exception:  # json_repair raises assorted errors on garbage
        return None


def _first_object(text: str) -> tuple[str, bool, bool]:
    """The first {...} in text: (the object or all text, whether it closed, whether cut in a string)."""
    depth = 0
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(text):
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return text[: i + 1], True, False
    return text, False, quote is not None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if value == "":
        return "text that is not JSON"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def plan_from_tool_calls(calls: Sequence[ToolCall]) -> ProposedPlan:
    """Turn the model's mcp_request call(s) into one validated plan, steps in order."""
    if not calls:
        raise ToolCallError(f"No tool call was made. Call {TOOL_NAME} with {EXPECTED_SHAPE}")
    summaries: list[str] = []
    steps: list[Any] = []
    for n, call in enumerate(calls, start=1):
        prefix = f"Call {n}: " if len(calls) > 1 else ""
        name = call.name.strip().removeprefix("functions.")
        if name != TOOL_NAME:
            raise ToolCallError(
                f"{prefix}unknown tool `{call.name}`; the only tool is {TOOL_NAME}."
            )
        try:
            summary, call_steps = _normalise(parse_arguments(call.arguments))
        except ToolCallError as exc:
            raise ToolCallError(prefix + exc.message) from None
        if summary:
            summaries.append(summary)
        steps.extend(call_steps)
    try:
        plan = ProposedPlan.model_validate({"summary": "; ".join(summaries) or "-", "steps": steps})
    except ValidationError as exc:
        raise ToolCallError(_explain(exc)) from None
    if not summaries:
        # Derived after validation so it shows the normalised operations.
        derived = "; ".join(f"{s.service}: {s.operation}" for s in plan.steps)
        plan = ProposedPlan(summary=derived, steps=plan.steps)
    return plan


def _normalise(args: dict[str, Any]) -> tuple[str | None, list[Any]]:
    """Accept the plan shape, a single step, or the original {service, method, path, body}."""
    summary = args.get("summary")
    summary = summary.strip() if isinstance(summary, str) and summary.strip() else None
    if "steps" in args:
        steps = args["steps"]
        if isinstance(steps, str):
            steps = parse_arguments(steps) if steps.strip().startswith("{") else _json_list(steps)
        if isinstance(steps, dict):
            steps = [steps]
        if not isinstance(steps, list):
            raise ToolCallError(f"`steps` must be a list of steps. Expected: {EXPECTED_SHAPE}")
        return summary, steps
    if "service" in args and "operation" in args:
        step = {k: v for k, v in args.items() if k != "summary"}
        return summary, [step]
    if "service" in args and ("method" in args or "path" in args):
        return summary, [_legacy_step(args)]
    raise ToolCallError(f"The arguments need `steps`. Expected: {EXPECTED_SHAPE}")


def _json_list(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _legacy_step(args: dict[str, Any]) -> dict[str, Any]:
    """{service, method, path, body, query} → a step with operation "METHOD /path"."""
    method, path = args.get("method"), args.get("path")
    if not isinstance(method, str) or not method.strip():
        raise ToolCallError(f'`method` is missing (e.g. "GET"). Expected: {EXPECTED_SHAPE}')
    if not isinstance(path, str) or not path.strip():
        raise ToolCallError(f'`path` is missing (e.g. "/health"). Expected: {EXPECTED_SHAPE}')
    arguments: dict[str, Any] = {}
    for key in ("query", "params"):
        extra = args.get(key)
        if isinstance(extra, dict):
            arguments.update(extra)
        elif extra not in (None, ""):
            raise ToolCallError(f"`{key}` must be an object of parameters by name.")
    body = args.get("body")
    if body:
        arguments["body"] = body
    path = path.strip()
    if not path.startswith("/"):
        path = "/" + path
    return {
        "service": args.get("service"),
        "operation": f"{method.strip().upper()} {path}",
        "arguments": arguments,
    }


def _explain(exc: ValidationError) -> str:
    """A short readable list of what is wrong, numbering steps from 1."""
    lines: list[str] = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            where = f"step {loc[1] + 1}"
            loc = loc[2:]
        field = ".".join(str(part) for part in loc)
        if err["type"] == "extra_forbidden":
            msg = f"unexpected field `{field}`; put the operation's parameters inside `arguments`"
        elif err["type"] == "missing":
            msg = f"`{field}` is missing"
        elif field:
            msg = f"`{field}`: {err['msg']}"
        else:
            msg = err["msg"]
        lines.append(f"- {where}: {msg}" if where else f"- {msg}")
    return "The plan is not valid:\n" + "\n".join(lines) + f"\nExpected: {EXPECTED_SHAPE}"


def plan_json(plan: ProposedPlan) -> str:
    """The plan as canonical JSON: what a person confirms, byte for byte."""
    return plans_plan.plan_json(plan.model_dump(mode="json"))


def plan_hash(plan: ProposedPlan) -> str:
    """SHA-256 hex of the canonical plan JSON (the same hash the stored draft carries)."""
    return plans_plan.plan_hash(plan.model_dump(mode="json"))
