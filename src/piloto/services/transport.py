"""Sending one request to a tool service: redirects followed by hand within the origin (and
the registered base path), responses read up to a byte cap."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from piloto.services.urls import describe_origin, same_origin

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class RedirectRefused(Exception):
    """The service redirected off its origin (or too often); nothing was sent there."""


@dataclass(frozen=True)
class Fetched:
    """A response read up to a byte cap."""

    status_code: int
    reason: str
    headers: httpx.Headers
    content: bytes
    truncated: bool
    url: str


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        room = max_bytes - len(buf)
        if len(chunk) > room:
            buf += chunk[:room]
            return bytes(buf), True
        buf += chunk
    return bytes(buf), False


async def send_capped(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    origin_url: str,
    max_bytes: int,
    max_redirects: int = 5,
    base_url: str | None = None,
) -> Fetched:
    """Send, following redirects only within ``origin_url``'s origin (and under ``base_url``'s
    path when given), reading ≤ max_bytes."""
    for _ in range(max_redirects + 1):
        response = await client.send(request, stream=True)
        try:
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                target = request.url.join(location)
                if (
                    target.scheme not in ("http", "https")
                    or target.userinfo
                    or not same_origin(str(target), origin_url)
                ):
                    raise RedirectRefused(
                        "refused: the service redirected to another host "
                        f"({describe_origin(str(target))})"
                    )
                if base_url is not None and not _under_base(target, base_url):
                    raise RedirectRefused(
                        "refused: the service redirected outside its registered base path "
                        f"({target.path})"
                    )
                method, content = request.method, request.content
                headers = httpx.Headers(request.headers)
                if (response.status_code == 303 and method != "HEAD") or (
                    response.status_code in (301, 302) and method == "POST"
                ):
                    method, content = "GET", b""
                    for name in ("content-type", "content-length", "transfer-encoding"):
                        headers.pop(name, None)
                headers.pop("host", None)
                request = httpx.Request(
                    method, target, headers=headers, content=content, extensions=request.extensions
                )
                continue
            content, truncated = await _read_capped(response, max_bytes)
            return Fetched(
                status_code=response.status_code,
                reason=response.reason_phrase,
                headers=response.headers,
                content=content,
                truncated=truncated,
                url=str(response.url),
            )
        finally:
            await response.aclose()
    raise RedirectRefused(f"refused: the service redirected more than {max_redirects} times")


def _base_path(base_url: str) -> bytes:
    return httpx.URL(base_url.rstrip("/") + "/").raw_path.split(b"?")[0]


def _under_base(url: httpx.URL, base_url: str) -> bool:
    """Whether ``url``'s path is the base URL's path or below it (no dot segments)."""
    path = url.raw_path.split(b"?")[0]
    segments = path.split(b"/")
    if b"." in segments or b".." in segments or b"%2e" in path.lower():
        return False
    base = _base_path(base_url)
    return (path + b"/").startswith(base) if not path.endswith(b"/") else path.startswith(base)


def connect_reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words (walks the exception chain)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused"
        if "resolve" in str(seen).lower():
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return str(exc) or "the connection failed"
