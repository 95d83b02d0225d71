"""One call of one allowed HTTP operation: build (``services.arguments``), send, cap, summarise.

Everything is validated against the operation's JSON schemas before any I/O. Redirects are
followed by hand and only within the base URL's origin; credentials in ``HttpTarget.headers``
are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from piloto.services.arguments import InvalidArguments, build_request, scalar
from piloto.services.models import InvokeResult, OperationSpec
from piloto.services.netguard import AddressRefused

# Re-exported: callers of ``invoke`` also catch RedirectRefused and describe connect errors.
from piloto.services.transport import Fetched, send_capped
from piloto.services.transport import RedirectRefused as RedirectRefused
from piloto.services.transport import connect_reason as connect_reason
from piloto.services.urls import describe_origin, same_origin

log = logging.getLogger("piloto.invoke")


@dataclass(frozen=True)
class HttpTarget:
    """Where and how to call a service. ``headers`` hold decrypted credentials: never log them."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_s: float = 30
    max_bytes: int = 1024 * 1024
    service: str = ""  # a name for logs


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
        return {"data": {k: scalar(v) for k, v in body.items()}}
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
