"""Arguments for one HTTP operation: checked against its JSON schemas and mapped to the
request (path, query, headers, body), before and without any I/O.

The convention (what the LLM and ``/call`` provide, one flat JSON object):

* a key that names a parameter of the operation is that parameter's value;
* the key ``body`` is the whole request body, unless a parameter is named ``body`` or the
  object body schema has a property named ``body`` (GitHub's issues): then it is that;
* any remaining keys, when the operation has an object body schema, become properties of the
  body, so the toolbox's ``POST /command`` takes ``{"cmd": "uname -a"}``;
* anything else is an unknown argument and refused.

Path parameters are percent-encoded with nothing left safe, and ``""``, ``.`` and ``..`` are
refused, so a value can never leave its place in the path template.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import jsonschema

from piloto.services.models import OperationSpec, ParamSpec

log = logging.getLogger("piloto.invoke")

_TYPE_NAMES = {
    "integer": "an integer", "number": "a number", "string": "a string",
    "boolean": "true or false", "array": "a list", "object": "an object", "null": "null",
}  # fmt: skip
# Headers Piloto (or the HTTP layer) sets itself: never an argument the model can fill in.
RESERVED_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer",
    "keep-alive", "expect", "idempotency-key",
})  # fmt: skip


def is_reserved_header(name: str, credential_headers: Iterable[str] = ()) -> bool:
    """Whether a header parameter must never be set from arguments (hop-by-hop, credentials)."""
    lowered = name.strip().lower()
    return (
        lowered in RESERVED_HEADERS
        or lowered.startswith("proxy-")
        or lowered in {c.strip().lower() for c in credential_headers}
    )


class InvalidArguments(ValueError):
    """The arguments do not fit the operation; the message lists every problem."""


@functools.lru_cache(maxsize=2048)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def schema_problems(label: str, schema: Mapping[str, Any], value: Any) -> list[str]:
    """Person-readable reasons why ``value`` does not fit ``schema`` (empty when it fits)."""
    if not schema:
        return []
    try:
        validator = _validator(json.dumps(schema, sort_keys=True, default=str))
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except Exception:  # a schema jsonschema cannot use must not make the operation uncallable
        log.warning("skipping validation of %s: unusable schema", label)
        return []
    problems = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in (label, *error.absolute_path) if p != "")
        if error.validator == "type" and isinstance(error.validator_value, str):
            wanted = _TYPE_NAMES.get(error.validator_value, error.validator_value)
            problems.append(f"`{where}` must be {wanted}")
        elif error.validator == "required" and isinstance(error.message, str):
            problems.append(f"`{where}`: {error.message}" if where else error.message)
        else:
            problems.append(f"`{where}`: {error.message}" if where else error.message)
    return problems


def scalar(value: Any) -> str:
    """A parameter value as text (lists and objects in OpenAPI's simple style)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(scalar(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k},{scalar(v)}" for k, v in value.items())
    return json.dumps(value)


def _query_value(value: Any) -> Any:
    if isinstance(value, list):
        return [scalar(v) for v in value]
    return scalar(value)


def _is_object_schema(schema: Mapping[str, Any] | None) -> bool:
    if not schema:
        return False
    kind = schema.get("type")
    return (
        kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in schema
    )


def build_request(
    op: OperationSpec, arguments: Mapping[str, Any], *, credential_headers: Iterable[str] = ()
) -> tuple[str, dict[str, Any], dict[str, str], Any]:
    """Validate arguments and map them to (encoded path, query, headers, body); no I/O."""
    credential_headers = tuple(credential_headers)
    if not isinstance(arguments, Mapping):
        raise InvalidArguments("arguments must be a JSON object")
    problems: list[str] = []
    remaining = dict(arguments)
    by_location: dict[str, list[tuple[ParamSpec, Any]]] = {}
    for param in op.parameters:
        if param.name not in remaining:
            if param.required:
                problems.append(f"missing required argument `{param.name}`")
            continue
        value = remaining.pop(param.name)
        if value is None and not param.required:
            continue
        problems.extend(schema_problems(param.name, param.schema_, value))
        by_location.setdefault(param.location, []).append((param, value))
    body: Any = None
    has_body = False
    body_is_property = _is_object_schema(op.body_schema) and "body" in (
        (op.body_schema or {}).get("properties") or {}
    )
    if "body" in remaining and op.body_schema is not None and not body_is_property:
        body, has_body = remaining.pop("body"), True
    if remaining and _is_object_schema(op.body_schema) and not has_body:
        body, has_body, remaining = dict(remaining), True, {}
    if remaining:
        accepted = [p.name for p in op.parameters]
        if op.body_schema is not None:
            accepted.append("body")
        listing = ", ".join(f"`{a}`" for a in accepted) or "no arguments"
        for key in remaining:
            problems.append(f"unknown argument `{key}` (this operation takes {listing})")
    if op.body_schema is not None:
        if has_body:
            problems.extend(schema_problems("body", op.body_schema, body))
        elif op.body_required:
            problems.append("missing the required request body (`body`)")
    path = op.path
    segments = path.split("/")
    if "." in segments or ".." in segments:
        problems.append("the operation's path has dot segments; refusing to call it")
    for param, value in by_location.get("path", []):
        text = scalar(value)
        if text in ("", ".", ".."):
            problems.append(f"`{param.name}` cannot be {text!r} (it is part of the path)")
            continue
        path = path.replace("{" + param.name + "}", quote(text, safe=""))
    if "{" in path and not problems:
        missing = path[path.index("{") + 1 : path.find("}", path.index("{"))]
        problems.append(f"missing required argument `{missing}`")
    headers: dict[str, str] = {}
    for param, value in by_location.get("header", []):
        if is_reserved_header(param.name, credential_headers):
            problems.append(
                f"`{param.name}` is a header Piloto sets itself; it cannot be an argument"
            )
            continue
        text = scalar(value)
        if any(c in text for c in "\r\n\x00"):
            problems.append(f"`{param.name}` cannot contain line breaks")
        headers[param.name] = text
    cookies = [
        f"{quote(p.name, safe='')}={quote(scalar(v), safe='')}"
        for p, v in by_location.get("cookie", [])
    ]
    if cookies and is_reserved_header("Cookie", credential_headers):
        problems.append("cookies are this service's credentials; they cannot be arguments")
    elif cookies:
        headers["Cookie"] = "; ".join(cookies)
    if problems:
        raise InvalidArguments("; ".join(problems))
    query = {p.name: _query_value(v) for p, v in by_location.get("query", [])}
    return path, query, headers, body if has_body else None
