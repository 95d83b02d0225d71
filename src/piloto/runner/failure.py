"""Did a step fail, and may it be sent again? ``_command_failed`` reads a command's result,
``call_failed`` any call's; ``delivery`` and ``after_failure`` decide what a failure allows."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from piloto.services.models import InvokeResult

# Output that means the command did not do its job even when the shell exited 0
# (`foo; echo done` exits 0 after "foo: command not found").
_KNOWN_FAILURES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), label)
    for pattern, label in (
        (r"command not found", "command not found"),
        (r"no such file or directory", "no such file or directory"),
        (r"permission denied", "permission denied"),
        (r"traceback \(most recent call last\)", "a Python traceback"),
        (r"segmentation fault", "segmentation fault"),
        (r"core dumped", "core dumped"),
        (r"\bout of memory\b|cannot allocate memory", "out of memory"),
        (r"\bkilled\b\s*$", "killed"),
    )
)

# Statuses worth trying again: the next attempt may well succeed.
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def _body(result: InvokeResult) -> Mapping[str, Any]:
    return result.body if isinstance(result.body, Mapping) else {}


def _detail(result: InvokeResult) -> str:
    """The service's own explanation of an error status, when it gave one."""
    body = result.body
    if isinstance(body, Mapping):
        detail = body.get("detail", body.get("error", body.get("message")))
        if isinstance(detail, Mapping):
            detail = detail.get("reason") or detail.get("error")
        if isinstance(detail, str) and detail.strip():
            return detail.strip()[:300]
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return ""


def call_failed(result: InvokeResult) -> str | None:
    """Why a call failed (transport error or HTTP status ≥ 400), or None when it succeeded."""
    if result.status_code is not None and result.status_code >= 400:
        detail = _detail(result)
        base = result.error or f"the service answered {result.status_code}"
        return f"{base}: {detail}" if detail and detail not in base else base
    if not result.ok:
        return result.error or "the call failed"
    return None


def _command_failed(result: InvokeResult) -> str | None:
    """Why a command step failed, or None: HTTP error, non-zero exit, timeout, known failure text."""
    failed = call_failed(result)
    if failed is not None:
        return failed
    body = _body(result)
    if body.get("timed_out") is True:
        return "the command timed out and was killed"
    code = body.get("exit_code")
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        return f"the command exited with code {code}"
    for stream in ("stderr", "stdout"):
        text = body.get(stream)
        if not isinstance(text, str) or not text:
            continue
        for pattern, label in _KNOWN_FAILURES:
            if pattern.search(text[-8000:]):
                return f"the output reports {label}"
    return None


command_failed = _command_failed


def is_transient(result: InvokeResult) -> bool:
    """Whether an HTTP call's failure may go away on retry (no answer, 5xx, 408, 429)."""
    return result.status_code is None or result.status_code in _TRANSIENT_STATUS


Delivery = Literal["answered", "not_sent", "refused", "unknown"]
Move = Literal["retry", "fail", "interrupt"]

# A gateway's 502/504 says the upstream did not answer in time or sanely: it may have acted.
_UNKNOWN_STATUS = frozenset({502, 504})
# Failures raised before a single byte of the request left (httpx's ConnectError, an MCP
# server that never started or answered its handshake).
_NOT_SENT = (
    "could not connect to ",
    "could not reach the MCP server",
    "could not start the MCP server",
    "the MCP server did not answer within",
    "the MCP session closed before the call was sent",
    "the MCP service has no ",
)
# Refused by Piloto's own network policy: nothing was sent, and sending again changes nothing.
_REFUSED = "refused: "
# The server answered, with an error.
_ANSWERED = ("the MCP server refused the call", "the tool failed")


def delivery(result: InvokeResult) -> Delivery:
    """What a failed call says about its request: answered, never sent, refused, or unknown.

    Unknown is the default: a timeout, a dropped connection or a gateway error after the request
    left may have let it take effect, and nothing in the result says otherwise.
    """
    if result.status_code is not None:
        return "unknown" if result.status_code in _UNKNOWN_STATUS else "answered"
    error = result.error or ""
    if result.ok or error.startswith(_ANSWERED):
        return "answered"
    if error.startswith(_REFUSED):
        return "refused"
    if error.startswith(_NOT_SENT):
        return "not_sent"
    return "unknown"


def command_ran(result: InvokeResult) -> bool:
    """Whether the result is a command's own (it ran, whatever its exit code)."""
    body = result.body
    return isinstance(body, Mapping) and ("exit_code" in body or "timed_out" in body)


def after_failure(
    result: InvokeResult, *, is_command: bool, idempotent: bool, read_command: bool
) -> Move:
    """What a failed attempt allows, attempts left aside (invariant 2: at most once, always).

    ``idempotent``: a GET/HEAD/OPTIONS, or a service that honours the Idempotency-Key;
    ``read_command``: a command the policy classifies ``read``. Only idempotent calls are
    re-sent when the first attempt may have taken effect (a command, read or not, may still be
    running there); a read command that ran and failed may run again; anything else waits for
    a person.
    """
    sent = delivery(result)
    if sent == "refused":
        return "fail"
    if sent == "not_sent":
        return "retry"
    safe = idempotent or read_command
    if sent == "unknown":
        if is_command and not idempotent:
            # A command whose call timed out or dropped may still be running on the service:
            # sending it again runs a second copy beside the first (`sleep 60` twice), even
            # when it only reads. A person decides.
            return "interrupt"
        return "retry" if safe else "interrupt"
    if is_command and command_ran(result):
        # It ran and failed: running it again repeats whatever it did before failing; one that
        # was killed by its time limit would only be killed again.
        if _body(result).get("timed_out") is True:
            return "fail"
        return "retry" if read_command else "fail"
    return "retry" if safe and is_transient(result) else "fail"
