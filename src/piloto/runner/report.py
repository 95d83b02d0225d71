"""What the runner writes down and says: request summaries, stored responses, chat lines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from piloto.i18n import MESSAGES, t
from piloto.plans.validate import command_of
from piloto.services.models import InvokeResult

RESPONSE_BODY_CAP = 64 * 1024
SUMMARY_CAP = 500
_SECRET_KEY = re.compile(
    r"pass|secret|token|api[-_]?key|auth|credential|cookie|session", re.IGNORECASE
)


def _mask(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: ("***" if _SECRET_KEY.search(str(k)) else _mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tail(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text``, with an ellipsis in front when cut."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def request_summary(
    *, method: str, path: str, arguments: Mapping[str, Any], is_command: bool
) -> str:
    """One line for the step and the audit log; argument values under secret-looking keys are masked."""
    cmd = command_of(arguments) if is_command else None
    if cmd is not None:
        return clip(f"$ {cmd}", SUMMARY_CAP)
    args = json.dumps(_mask(dict(arguments)), ensure_ascii=False, sort_keys=True, default=str)
    return clip(f"{method} {path} {args}", SUMMARY_CAP)


def stored_response(result: InvokeResult) -> dict[str, Any]:
    """The InvokeResult as JSON for the steps table, its body capped."""
    data = result.model_dump(mode="json")
    encoded = json.dumps(data["body"], ensure_ascii=False, default=str)
    if len(encoded) > RESPONSE_BODY_CAP:
        data["body"] = encoded[:RESPONSE_BODY_CAP] + "…"
        data["truncated"] = True
    return data


def short_result(result: InvokeResult | None, *, is_command: bool) -> str:
    """A few words about a result for the chat line."""
    if result is None:
        return ""
    body = result.body
    if is_command and isinstance(body, Mapping) and "exit_code" in body:
        parts = ["timed out" if body.get("timed_out") else f"exit {body.get('exit_code')}"]
        out = str(body.get("stdout") or "").strip()
        err = str(body.get("stderr") or "").strip()
        if out:
            parts.append(tail(out, 300))
        if err and body.get("exit_code") != 0:
            parts.append("stderr: " + tail(err, 200))
        return " · ".join(parts)
    head = f"HTTP {result.status_code}" if result.status_code is not None else ""
    if body is None or body == "":
        return head
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    return f"{head} · {clip(' '.join(text.split()), 160)}" if head else clip(text, 160)


# The runner's own English reasons (runner.failure), said in the chat's language. Reasons
# from elsewhere (a service's text, an exception) are data and stay as they are.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"the command exited with code (?P<code>-?\d+)"), "command_exited"),
    (re.compile(r"the command timed out and was killed"), "command_timed_out"),
    (re.compile(r"the output reports (?P<label>[^;.\n]+)"), "output_reports"),
)


def localise_reason(lang: str, text: str) -> str:
    """``text`` with the runner's known English reasons in ``lang``."""
    if lang == "en" or not text:
        return text
    for pattern, key in _REASONS:
        text = pattern.sub(_say_in(lang, key), text)
    return text


def _say_in(lang: str, key: str) -> Callable[[re.Match[str]], str]:
    def say(match: re.Match[str]) -> str:
        return t(lang, key, **match.groupdict())

    return say


def step_line(
    lang: str,
    *,
    n: int,
    total: int,
    service: str,
    operation: str,
    status: str,
    ms: int | None,
    detail: str,
) -> str:
    """ "Step n/N service · operation: done (12 ms) — short result", in the chat's language."""
    key = f"status_{status}"
    shown = t(lang, key) if key in MESSAGES else status
    # An unknown duration (a step abandoned in flight) is left out rather than shown as 0 ms.
    duration = f" ({_duration(ms)})" if ms is not None else ""
    return t(
        lang, "step_done", n=n, total=total, service=service, operation=operation, status=shown,
        duration=duration, detail=f" — {localise_reason(lang, detail)}" if detail else "",
    )  # fmt: skip


def _duration(ms: int) -> str:
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"
