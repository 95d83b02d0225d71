"""``{{name}}`` parameters in a runbook's step arguments, filled by the step templating rule.

A value spliced into a longer string must be a plain word (the runner's rule for values from
earlier steps, ``runner/templating.py``), so an argument can never add shell syntax to a
command a person confirmed; a placeholder that is a whole non-command string keeps its value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from piloto.errors import Invalid
from piloto.i18n import t
from piloto.runner.templating import _PLAIN_WORD

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHOLE = re.compile(r"^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$")
# The command fields of the toolbox and MCP shells: a whole-string value there is still a command.
COMMAND_KEYS = frozenset({"cmd", "command"})
# What a parameter without a default stands for when a runbook is checked at save.
SAMPLE = "sample"


def placeholders(value: Any) -> set[str]:
    """Every ``{{name}}`` used anywhere in ``value`` (``{{steps.…}}`` belongs to the runner)."""
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, Mapping):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def resolve_arguments(
    parameters: Mapping[str, Mapping[str, Any]], given: Mapping[str, Any], lang: str
) -> dict[str, Any]:
    """Each parameter's value: given, else its default; 422 for unknown or missing ones."""
    unknown = sorted(set(given) - set(parameters))
    if unknown:
        raise Invalid(
            t(lang, "runbook_unknown_parameter", names=", ".join(unknown),
              known=", ".join(sorted(parameters)) or "-"),
            code="unknown_parameter",
        )  # fmt: skip
    values: dict[str, Any] = {}
    missing = []
    for name, spec in parameters.items():
        if name in given:
            values[name] = given[name]
        elif "default" in spec:
            values[name] = spec["default"]
        else:
            missing.append(name)
    if missing:
        raise Invalid(
            t(lang, "runbook_missing_parameter", names=", ".join(sorted(missing))),
            code="missing_parameter",
        )
    return values


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _fill_str(text: str, values: Mapping[str, Any], *, shell: bool, lang: str) -> Any:
    whole = _WHOLE.match(text)
    if whole and not shell:
        return values[whole.group(1)]

    def splice(match: re.Match[str]) -> str:
        name = match.group(1)
        value = _text(values[name])
        if not _PLAIN_WORD.match(value):
            raise Invalid(
                t(lang, "runbook_not_plain_word", name=name, value=json.dumps(value[:60])),
                code="parameter_not_plain_word",
                parameter=name,
            )
        return value

    return _PLACEHOLDER.sub(splice, text)


def fill(value: Any, values: Mapping[str, Any], *, lang: str, shell: bool = False) -> Any:
    """``value`` with every ``{{name}}`` replaced; Invalid when a spliced value is not a word."""
    if isinstance(value, str):
        return _fill_str(value, values, shell=shell, lang=lang) if "{{" in value else value
    if isinstance(value, Mapping):
        return {
            k: fill(v, values, lang=lang, shell=shell or k in COMMAND_KEYS)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [fill(v, values, lang=lang, shell=shell) for v in value]
    return value


def fill_steps(
    steps: list[dict[str, Any]], values: Mapping[str, Any], *, lang: str
) -> list[dict[str, Any]]:
    """The runbook's steps with their arguments filled."""
    return [{**s, "arguments": fill(s.get("arguments") or {}, values, lang=lang)} for s in steps]


def sample_values(parameters: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Defaults, and a plain word for parameters without one: what a save is checked with."""
    return {n: spec.get("default", SAMPLE) for n, spec in parameters.items()}
