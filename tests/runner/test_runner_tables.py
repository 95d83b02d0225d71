"""Table tests: ``_command_failed``, what a failure allows (``after_failure``) and the
``{{steps.N.path}}`` templating."""

from __future__ import annotations

from typing import Any

import pytest

from piloto.runner.failure import _command_failed, after_failure, call_failed, delivery
from piloto.runner.templating import TemplateError, has_placeholders, render
from piloto.services.models import InvokeResult


def cmd_result(
    exit_code: int | None = 0,
    stdout: str = "",
    stderr: str = "",
    timed_out: bool = False,
    status: int = 200,
) -> InvokeResult:
    body = {
        "exit_code": exit_code,
        "stdout": stdout,
        "stderr": stderr,
        "timed_out": timed_out,
        "duration_ms": 1,
        "truncated": False,
    }
    return InvokeResult(
        ok=200 <= status < 300,
        status_code=status,
        body=body,
        error=None if status < 400 else f"the service answered {status}",
    )


FAILED_CASES: list[tuple[str, InvokeResult, str | None]] = [
    ("exit 0, clean", cmd_result(0, "ok\n"), None),
    ("exit 0, empty output", cmd_result(0), None),
    ("exit 1", cmd_result(1), "exited with code 1"),
    (
        "exit 2 with stderr",
        cmd_result(2, stderr="ls: cannot access '/x': No such file or directory"),
        "exited with code 2",
    ),
    ("exit 127", cmd_result(127, stderr="bash: foo: command not found"), "exited with code 127"),
    ("negative exit", cmd_result(-9), "exited with code -9"),
    ("timed out", cmd_result(None, timed_out=True), "timed out"),
    (
        "exit 0 but command not found",
        cmd_result(0, stderr="bash: line 1: frobnicate: command not found\n"),
        "command not found",
    ),
    (
        "exit 0 but missing file",
        cmd_result(0, stderr="cat: /nope: No such file or directory"),
        "no such file or directory",
    ),
    (
        "exit 0 but permission denied",
        cmd_result(0, stderr="bash: /root/x: Permission denied"),
        "permission denied",
    ),
    (
        "exit 0 but traceback in stdout",
        cmd_result(0, stdout="Traceback (most recent call last):\n  File ...\nValueError"),
        "traceback",
    ),
    (
        "exit 0 but segfault",
        cmd_result(0, stderr="Segmentation fault (core dumped)"),
        "segmentation fault",
    ),
    (
        "HTTP 403 blocked",
        InvokeResult(
            ok=False,
            status_code=403,
            body={"detail": {"error": "blocked", "reason": "rm -rf /"}},
            error="the service answered 403 Forbidden",
        ),
        "403",
    ),
    (
        "HTTP 500",
        InvokeResult(ok=False, status_code=500, body="boom", error="the service answered 500"),
        "500",
    ),
    (
        "no connection",
        InvokeResult(
            ok=False,
            status_code=None,
            body=None,
            error="could not connect to http://127.0.0.1:1: connection refused",
        ),
        "could not connect",
    ),
    (
        "ok false without error",
        InvokeResult(ok=False, status_code=None, body=None),
        "the call failed",
    ),
    ("non-command JSON body", InvokeResult(ok=True, status_code=200, body={"id": 3}), None),
    ("text body", InvokeResult(ok=True, status_code=200, body="all good"), None),
    (
        "exit code as bool is not an exit code",
        InvokeResult(ok=True, status_code=200, body={"exit_code": False}),
        None,
    ),
    (
        "words that look alike are fine",
        cmd_result(0, stdout="0 files not found in cache; permission granted"),
        None,
    ),
]


@pytest.mark.parametrize(
    ("label", "result", "expected"), FAILED_CASES, ids=[c[0] for c in FAILED_CASES]
)
def test_command_failed(label: str, result: InvokeResult, expected: str | None) -> None:
    reason = _command_failed(result)
    if expected is None:
        assert reason is None, label
    else:
        assert reason is not None and expected.lower() in reason.lower(), (label, reason)


def test_call_failed_ignores_command_fields() -> None:
    assert call_failed(cmd_result(3)) is None
    assert call_failed(InvokeResult(ok=False, status_code=503, body=None)) is not None


def failed(error: str, status: int | None = None, body: Any = None) -> InvokeResult:
    return InvokeResult(ok=False, status_code=status, body=body, error=error)


TIMED_OUT = failed("timed out after 3 s")
DROPPED = failed("the request to http://127.0.0.1:1 failed (RemoteProtocolError)")
MCP_BROKE = failed("the connection to the MCP server broke during the call; it may have run")
REFUSED = failed("could not connect to http://127.0.0.1:1: connection refused")
MCP_DOWN = failed("could not reach the MCP server at http://127.0.0.1:1: connection refused")
POLICY = failed("refused: 169.254.169.254 is a cloud metadata address")
GATEWAY = failed("the service answered 502 Bad Gateway", 502)
GATEWAY_TIMEOUT = failed("the service answered 504 Gateway Timeout", 504)
BUSY = failed("the service answered 503 Service Unavailable", 503)
NOT_FOUND = failed("the service answered 404 Not Found", 404)
TOOL_ERROR = failed("the tool failed: no such table", body="no such table")

DELIVERY_CASES: list[tuple[str, InvokeResult, str]] = [
    ("timeout after sending", TIMED_OUT, "unknown"),
    ("connection dropped", DROPPED, "unknown"),
    ("MCP connection broke mid-call", MCP_BROKE, "unknown"),
    ("no error text at all", InvokeResult(ok=False, status_code=None, body=None), "unknown"),
    ("a gateway's 502", GATEWAY, "unknown"),
    ("a gateway's 504", GATEWAY_TIMEOUT, "unknown"),
    ("connection refused", REFUSED, "not_sent"),
    ("MCP server unreachable", MCP_DOWN, "not_sent"),
    ("network policy", POLICY, "refused"),
    ("503 answered", BUSY, "answered"),
    ("404 answered", NOT_FOUND, "answered"),
    ("a command that ran", cmd_result(1), "answered"),
    ("an MCP tool error", TOOL_ERROR, "answered"),
]


@pytest.mark.parametrize(
    ("label", "result", "expected"), DELIVERY_CASES, ids=[c[0] for c in DELIVERY_CASES]
)
def test_delivery(label: str, result: InvokeResult, expected: str) -> None:
    assert delivery(result) == expected, label


# (label, result, is_command, idempotent, read_command, expected move)
MOVE_CASES: list[tuple[str, InvokeResult, bool, bool, bool, str]] = [
    # An unknown outcome is re-sent only when that is idempotent.
    ("POST timed out", TIMED_OUT, False, False, False, "interrupt"),
    ("POST dropped", DROPPED, False, False, False, "interrupt"),
    ("POST behind a gateway 502", GATEWAY, False, False, False, "interrupt"),
    ("GET timed out", TIMED_OUT, False, True, False, "retry"),
    ("GET behind a gateway 504", GATEWAY_TIMEOUT, False, True, False, "retry"),
    ("Idempotency-Key service timed out", TIMED_OUT, False, True, False, "retry"),
    ("write command timed out", TIMED_OUT, True, False, False, "interrupt"),
    # A command's call that timed out may still be running there: never a second copy.
    ("read command timed out", TIMED_OUT, True, False, True, "interrupt"),
    ("read command dropped", DROPPED, True, False, True, "interrupt"),
    ("MCP tool broke mid-call", MCP_BROKE, False, False, False, "interrupt"),
    # Nothing was sent: safe for anything.
    ("POST connection refused", REFUSED, False, False, False, "retry"),
    ("write command, toolbox down", REFUSED, True, False, False, "retry"),
    ("MCP server down", MCP_DOWN, False, False, False, "retry"),
    # Refused by Piloto's own policy: sending again changes nothing.
    ("metadata address", POLICY, False, True, False, "fail"),
    # Answered with an error.
    ("POST 503", BUSY, False, False, False, "fail"),
    ("GET 503", BUSY, False, True, False, "retry"),
    ("GET 404", NOT_FOUND, False, True, False, "fail"),
    ("MCP tool error", TOOL_ERROR, False, False, False, "fail"),
    # A command that ran and failed: again only when it only reads.
    ("write command exit 1", cmd_result(1), True, False, False, "fail"),
    ("write command exit 1, key honoured", cmd_result(1), True, True, False, "fail"),
    (
        "write command killed by its timeout",
        cmd_result(None, timed_out=True),
        True,
        False,
        False,
        "fail",
    ),
    ("read command exit 2", cmd_result(2), True, False, True, "retry"),
    (
        "read command killed by its timeout",
        cmd_result(None, timed_out=True),
        True,
        False,
        True,
        "fail",
    ),
    (
        "read command, toolbox 403",
        failed("the service answered 403", 403),
        True,
        False,
        True,
        "fail",
    ),
]


@pytest.mark.parametrize(
    ("label", "result", "is_command", "idempotent", "read_command", "expected"),
    MOVE_CASES,
    ids=[c[0] for c in MOVE_CASES],
)
def test_after_failure(
    label: str,
    result: InvokeResult,
    is_command: bool,
    idempotent: bool,
    read_command: bool,
    expected: str,
) -> None:
    move = after_failure(
        result, is_command=is_command, idempotent=idempotent, read_command=read_command
    )
    assert move == expected, label


RESULTS: dict[int, Any] = {
    0: {
        "status_code": 200,
        "body": {
            "id": 42,
            "name": "box-7",
            "items": [{"sku": "a-1"}, {"sku": "b-2"}],
            "ok": True,
            "none": None,
        },
    },
    1: {"status_code": 201, "body": ["x", "y"]},
}

RENDER_CASES: list[tuple[str, Any, Any]] = [
    ("whole string keeps the int", {"id": "{{steps.0.body.id}}"}, {"id": 42}),
    ("whole string keeps the bool", {"v": "{{steps.0.body.ok}}"}, {"v": True}),
    ("whole string keeps null", {"v": "{{steps.0.body.none}}"}, {"v": None}),
    ("whole string keeps a dict", {"v": "{{steps.0.body.items.1}}"}, {"v": {"sku": "b-2"}}),
    ("spaces inside braces", {"v": "{{ steps.0.body.name }}"}, {"v": "box-7"}),
    ("status code", {"code": "{{steps.1.status_code}}"}, {"code": 201}),
    ("list index", {"v": "{{steps.0.body.items.0.sku}}"}, {"v": "a-1"}),
    ("negative list index", {"v": "{{steps.1.body.-1}}"}, {"v": "y"}),
    (
        "spliced into text",
        {"v": "order {{steps.0.body.id}} for {{steps.0.body.name}}"},
        {"v": "order 42 for box-7"},
    ),
    ("spliced dict becomes JSON", {"v": "x={{steps.0.body.items.0}}"}, {"v": 'x={"sku":"a-1"}'}),
    (
        "nested containers",
        {"a": [{"b": "{{steps.0.body.id}}"}], "c": 1},
        {"a": [{"b": 42}], "c": 1},
    ),
    (
        "no placeholders untouched",
        {"v": "{{not a template}}", "n": 3},
        {"v": "{{not a template}}", "n": 3},
    ),
    ("command word spliced", {"cmd": "ls /srv/{{steps.0.body.name}}"}, {"cmd": "ls /srv/box-7"}),
    (
        "body.cmd word spliced",
        {"body": {"cmd": "echo {{steps.0.body.id}}"}},
        {"body": {"cmd": "echo 42"}},
    ),
]


@pytest.mark.parametrize(
    ("label", "arguments", "expected"), RENDER_CASES, ids=[c[0] for c in RENDER_CASES]
)
def test_render(label: str, arguments: Any, expected: Any) -> None:
    assert render(arguments, RESULTS, current=2, shell_keys=frozenset({"cmd"})) == expected, label


ERROR_CASES: list[tuple[str, Any, str, frozenset[str]]] = [
    ("missing key", {"v": "{{steps.0.body.nope}}"}, "has no key “nope”", frozenset()),
    ("index out of range", {"v": "{{steps.0.body.items.5}}"}, "has 2 items", frozenset()),
    ("key on a list", {"v": "{{steps.1.body.name}}"}, "is a list", frozenset()),
    ("walk into a number", {"v": "{{steps.0.body.id.x}}"}, "is a number", frozenset()),
    ("future step", {"v": "{{steps.2.body}}"}, "runs after this one", frozenset()),
    ("skipped step", {"v": "{{steps.1.body}}"}, "runs after this one", frozenset()),
    (
        "shell metacharacters refused",
        {"cmd": "echo {{steps.0.body.evil}}"},
        "not a plain word",
        frozenset({"cmd"}),
    ),
    (
        "whole-string command is still checked",
        {"cmd": "{{steps.0.body.evil}}"},
        "not a plain word",
        frozenset({"cmd"}),
    ),
]


@pytest.mark.parametrize(
    ("label", "arguments", "message", "shell"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
def test_render_errors(label: str, arguments: Any, message: str, shell: frozenset[str]) -> None:
    results = {0: {"body": {"id": 42, "items": [1, 2], "evil": "x; rm -rf ~"}}, 1: {"body": ["a"]}}
    current = 1 if label == "skipped step" else 2
    if label == "skipped step":
        results = {0: results[0]}
    with pytest.raises(TemplateError, match=message):
        render(arguments, results, current=current, shell_keys=shell)


def test_skipped_step_has_no_result() -> None:
    with pytest.raises(TemplateError, match="no result"):
        render({"v": "{{steps.0.body}}"}, {}, current=1)


def test_has_placeholders() -> None:
    assert has_placeholders({"a": ["x {{steps.0.body}}"]})
    assert not has_placeholders({"a": ["{{other}}", 1, None]})
