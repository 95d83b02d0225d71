"""One call of one allowed HTTP operation: validate, build, send, cap, summarise.

Arguments convention (what the LLM and ``/call`` provide, one flat JSON object):

* a key that names a parameter of the operation is that parameter's value;
* the key ``body`` is the whole request body, unless a parameter is named ``body`` or the
  object body schema has a property named ``body`` (GitHub's issues): then it is that;
* any remaining keys, when the operation has an object body schema, become properties of the
  body, so the toolbox's ``POST /command`` takes ``{"cmd": "uname -a"}``;
* anything else is an unknown argument and refused.

Everything is validated against the operation's JSON schemas before any I/O. Path parameters
are percent-encoded with nothing left safe, and ``""``, ``.`` and ``..`` are refused, so a value
can never leave its place in the path template. Redirects are followed by hand and only within
the base URL's origin; credentials in ``HttpTarget.headers`` are never logged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema

from piloto.services.models import InvokeResult, OperationSpec, ParamSpec
from piloto.services.netguard import AddressRefused

# Re-exported: callers of ``invoke`` also catch RedirectRefused and describe connect errors.
from piloto.services.transport import Fetched, send_capped
from piloto.services.transport import RedirectRefused as RedirectRefused
from piloto.services.transport import connect_reason as connect_reason
from piloto.services.urls import describe_origin, same_origin

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


@dataclass(frozen=True)
class HttpTarget:
    """Where and how to call a service. ``headers`` hold decrypted credentials: never log them."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_s: float = 30
    max_bytes: int = 1024 * 1024
    service: str = ""  # a name for logs


# --- building ------------------------------------------------------------------------------


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


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_scalar(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k},{_scalar(v)}" for k, v in value.items())
    return json.dumps(value)


def _query_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    return _scalar(value)


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
        text = _scalar(value)
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
        text = _scalar(value)
        if any(c in text for c in "\r\n\x00"):
            problems.append(f"`{param.name}` cannot contain line breaks")
        headers[param.name] = text
    cookies = [
        f"{quote(p.name, safe='')}={quote(_scalar(v), safe='')}"
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


# --- sending -------------------------------------------------------------------------------


def _decode_body(fetched: Fetched) -> Any:
    content_type = fetched.headers.get("content-type", "").lower()
    if not fetched.truncated and "json" in content_type:
        try:
            return json.loads(fetched.content)
        except ValueError:
            pass
    try:
        return fetched.content.decode("utf-8")
    except UnicodeDecodeError:
        if fetched.truncated:  # the cap may have cut a character in two
            return fetched.content.decode("utf-8", "replace")
        return f"<{len(fetched.content)} bytes of {content_type or 'binary data'}>"


def _join(base_url: str, path: str) -> str:
    base = base_url.rstrip("/")
    try:
        url = httpx.URL(base + path)
    except httpx.InvalidURL as exc:
        raise InvalidArguments(f"the service's URL is not valid: {exc}") from exc
    base_path = httpx.URL(base + "/").raw_path.split(b"?")[0]
    if not same_origin(str(url), base) or not url.raw_path.startswith(base_path):
        raise InvalidArguments("the request would leave the service's base URL")
    return str(url)


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _body_kwargs(op: OperationSpec, body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    media = op.body_media_type or "application/json"
    if media == "application/json":
        return {"json": body}
    if media == "application/x-www-form-urlencoded" or media.startswith("multipart/"):
        if not isinstance(body, Mapping):
            raise InvalidArguments("the request body must be an object of form fields")
        return {"data": {k: _scalar(v) for k, v in body.items()}}
    if isinstance(body, str):
        return {"content": body.encode(), "headers": {"Content-Type": media}}
    return {"json": body}


async def invoke_http(
    target: HttpTarget,
    op: OperationSpec,
    arguments: Mapping[str, Any],
    *,
    client: httpx.AsyncClient,
    idempotency_key: str | None = None,
    max_redirects: int = 5,
) -> InvokeResult:
    """Call one operation; raises InvalidArguments before any I/O, else returns a result."""
    path, query, param_headers, body = build_request(
        op, arguments, credential_headers=target.headers.keys()
    )
    url = _join(target.base_url, path)
    extra = _body_kwargs(op, body)
    headers = httpx.Headers(
        {"Accept": "application/json, */*;q=0.5", "Accept-Encoding": "identity"}
    )
    for source in (extra.pop("headers", {}), param_headers, target.headers):
        for name, value in source.items():
            headers[name] = value
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    start = time.monotonic()
    status: int | None = None
    nbytes = 0
    try:
        async with asyncio.timeout(target.timeout_s):
            request = client.build_request(
                op.method, url, params=query, headers=headers, timeout=target.timeout_s, **extra
            )
            fetched = await send_capped(
                client, request, origin_url=url, max_bytes=target.max_bytes,
                max_redirects=max_redirects, base_url=target.base_url,
            )  # fmt: skip
        status, nbytes = fetched.status_code, len(fetched.content)
        ok = 200 <= status < 300
        return InvokeResult(
            ok=ok,
            status_code=status,
            body=_decode_body(fetched),
            truncated=fetched.truncated,
            bytes=nbytes,
            duration_ms=_ms(start),
            error=None if ok else f"the service answered {status} {fetched.reason}".strip(),
        )
    except (TimeoutError, httpx.TimeoutException):
        return _failed(start, f"timed out after {_seconds(target.timeout_s)}")
    except (AddressRefused, RedirectRefused) as exc:
        return _failed(start, str(exc))
    except httpx.ConnectError as exc:
        return _failed(start, f"could not connect to {describe_origin(url)}: {connect_reason(exc)}")
    except httpx.HTTPError as exc:
        return _failed(
            start, f"the request to {describe_origin(url)} failed ({type(exc).__name__})"
        )
    finally:
        log.info(
            "%s %s -> %s",
            op.method,
            op.path,
            status,
            extra={
                "service": target.service,
                "operation": op.operation_id,
                "status": status,
                "bytes": nbytes,
                "ms": _ms(start),
            },
        )


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


def _failed(start: float, error: str) -> InvokeResult:
    return InvokeResult(
        ok=False, status_code=None, body=None, truncated=False, bytes=0,
        duration_ms=_ms(start), error=error,
    )  # fmt: skip
