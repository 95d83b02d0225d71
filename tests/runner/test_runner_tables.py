"""Table tests: ``_command_failed`` and the ``{{steps.N.path}}`` templating."""

from __future__ import annotations

from typing import Any

import pytest

from piloto.runner.failure import _command_failed, call_failed, worth_retrying
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


def test_call_failed_ignores_command_fields_and_retry_rules() -> None:
    assert call_failed(cmd_result(3)) is None
    assert worth_retrying(cmd_result(3), is_command=True)
    assert not worth_retrying(cmd_result(3), is_command=False)
    assert worth_retrying(InvokeResult(ok=False, status_code=503, body=None), is_command=False)
    assert worth_retrying(
        InvokeResult(ok=False, status_code=None, body=None, error="timed out"), is_command=False
    )
    assert not worth_retrying(InvokeResult(ok=False, status_code=404, body=None), is_command=True)


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
