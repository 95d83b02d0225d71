"""``{{steps.0.body.id}}`` in a step's arguments: values from earlier steps, by a path walker.

Only dict keys and list indices are walked; nothing is evaluated. A placeholder that is the
whole string keeps the JSON type of the value; inside a longer string the value is spliced
as text. Inside a shell command only plain words may be spliced, so an earlier step's output
can never add shell syntax to a command a person confirmed (invariants 1 and 4).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*steps\.(\d+)((?:\.[^.{}\s]+)*)\s*\}\}")
_WHOLE = re.compile(r"^\s*\{\{\s*steps\.(\d+)((?:\.[^.{}\s]+)*)\s*\}\}\s*$")
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9._/:=@%+,-]+$")


class TemplateError(ValueError):
    """A placeholder cannot be resolved; the message says which and why."""


def has_placeholders(value: Any) -> bool:
    """Whether any string inside ``value`` holds a ``{{steps.…}}`` placeholder."""
    if isinstance(value, str):
        return _PLACEHOLDER.search(value) is not None
    if isinstance(value, Mapping):
        return any(has_placeholders(v) for v in value.values())
    if isinstance(value, list):
        return any(has_placeholders(v) for v in value)
    return False


def walk(root: Any, path: Sequence[str], *, label: str) -> Any:
    """Follow ``path`` through dict keys and list indices; TemplateError when it leads nowhere."""
    value = root
    walked = label
    for part in path:
        if isinstance(value, Mapping):
            if part not in value:
                keys = ", ".join(sorted(map(str, value))[:8])
                raise TemplateError(f"{walked} has no key “{part}” (it has: {keys or 'nothing'})")
            value = value[part]
        elif isinstance(value, list):
            if not part.lstrip("-").isdigit():
                raise TemplateError(f"{walked} is a list; “{part}” is not an index")
            index = int(part)
            if not -len(value) <= index < len(value):
                raise TemplateError(f"{walked} has {len(value)} items; there is no item {index}")
            value = value[index]
        else:
            raise TemplateError(f"{walked} is {_kind(value)}, so it has no “{part}”")
        walked = f"{walked}.{part}"
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _lookup(results: Mapping[int, Any], index_text: str, path_text: str, *, current: int) -> Any:
    index = int(index_text)
    if index >= current:
        raise TemplateError(
            f"{{{{steps.{index}{path_text}}}}} refers to step {index + 1}, which runs after this one "
            f"(step {current + 1}); only earlier steps can be used"
        )
    if index not in results:
        raise TemplateError(
            f"{{{{steps.{index}{path_text}}}}}: step {index + 1} has no result (it was skipped)"
        )
    path = [p for p in path_text.split(".") if p]
    return walk(results[index], path, label=f"steps.{index}")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _render_str(text: str, results: Mapping[int, Any], *, current: int, shell: bool) -> Any:
    whole = _WHOLE.match(text)
    if whole and not shell:
        return _lookup(results, whole.group(1), whole.group(2), current=current)

    def splice(match: re.Match[str]) -> str:
        value = _as_text(_lookup(results, match.group(1), match.group(2), current=current))
        if shell and not _PLAIN_WORD.match(value):
            raise TemplateError(
                f"{match.group(0)} is {json.dumps(value[:60])}, which is not a plain word; values "
                "from earlier steps may only put letters, digits and ._/:=@%+,- into a command"
            )
        return value

    return _PLACEHOLDER.sub(splice, text)


def render(
    value: Any,
    results: Mapping[int, Any],
    *,
    current: int,
    shell_keys: frozenset[str] = frozenset(),
) -> Any:
    """``value`` with every placeholder resolved against ``results`` (step index → result dict).

    ``shell_keys`` names the keys whose strings are shell commands (``cmd``).
    """
    if isinstance(value, str):
        return _render_str(value, results, current=current, shell=False) if "{{" in value else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in shell_keys and isinstance(item, str):
                out[key] = (
                    _render_str(item, results, current=current, shell=True)
                    if "{{" in item
                    else item
                )
            else:
                out[key] = render(item, results, current=current, shell_keys=shell_keys)
        return out
    if isinstance(value, list):
        return [render(item, results, current=current, shell_keys=shell_keys) for item in value]
    return value
