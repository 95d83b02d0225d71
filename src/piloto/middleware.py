"""Request ids and one structured log line per request (pure ASGI, so SSE streams pass through)."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from piloto.i18n import t
from piloto.logs import request_id_var

log = logging.getLogger("piloto.http")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` (or makes one), returns it, logs method/path/status/duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), ""
        )
        rid = incoming if _VALID_ID.match(incoming) else secrets.token_hex(8)
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # The path only: query strings may carry things a person would not want logged.
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                },
            )
            request_id_var.reset(token)


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n} bytes"


class BodyLimitMiddleware:
    """Answers 413 once a request body passes its limit, counting while it streams in.

    A declared ``Content-Length`` over the limit is refused before anything is read; a chunked
    or lying body is cut off at the first chunk past the limit (never buffered whole).
    ``large`` names (method, path) pairs that take the larger document limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        large_bytes: int,
        large: frozenset[tuple[str, str]] = frozenset(),
        lang: str = "en",
    ) -> None:
        self.app = app
        self.lang = lang
        self.max_bytes = max_bytes
        self.large_bytes = large_bytes
        self.large = large

    def _limit(self, scope: Scope) -> int:
        key = (scope["method"], scope["path"].rstrip("/"))
        return self.large_bytes if key in self.large else self.max_bytes

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "detail": t(self.lang, "body_too_large", limit=_mib(limit)),
                "code": "too_large",
                "request_id": request_id_var.get(),
                "limit_bytes": limit,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        state = {"seen": 0, "over": False, "started": False}

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > limit:
                    state["over"] = True
                    # The app stops reading here; send_checked swaps its answer for the 413.
                    raise BodyTooLarge(limit)
            return message

        async def send_checked(message: Message) -> None:
            if state["over"]:
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await self._refuse(send, limit)
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, send_checked)
        except BodyTooLarge:
            if not state["started"]:
                state["started"] = True
                await self._refuse(send, limit)


class BodyTooLarge(Exception):
    """The request body passed its limit while being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit
