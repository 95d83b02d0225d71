"""A pool of long-lived MCP client sessions (stdio and streamable HTTP), one per service.

The SDK's sessions live in anyio task groups that must be entered and exited by the same
task, so each session runs inside its own asyncio task that owns the ``async with`` stack and
serves jobs from a queue; the pool can therefore be used from any task. A session starts on
demand, is reused, is closed after ``idle_ttl_s`` without use, and is replaced when its
transport has died (a killed stdio process, a broken stream): the next call reconnects.
A call whose connection breaks mid-flight is reported as failed with an unknown outcome and
is never re-sent (Piloto runs a confirmed step at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO, cast
from urllib.parse import urlsplit

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from piloto.services.arguments import InvalidArguments, schema_problems
from piloto.services.mcp_tools import tool_to_operation
from piloto.services.models import InvokeResult, OperationSpec
from piloto.services.netguard import AddressRefused, NetPolicy, guarded_client2
from piloto.services.urls import describe_origin, normalize_base_url

log = logging.getLogger("piloto.invoke")


class McpUnavailable(Exception):
    """The MCP server could not be started or reached; the message is for a person."""


@dataclass(frozen=True)
class McpConfig:
    """How to reach one MCP server. ``env`` and ``headers`` may hold secrets: never log them."""

    transport: Literal["stdio", "http"]
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_s: float = 30
    max_bytes: int = 1024 * 1024


# --- one session ---------------------------------------------------------------------------


class _Life:
    dead = False


class _WatchedRead:
    """The transport's read stream, noting end of stream (the server or connection is gone)."""

    def __init__(self, inner: Any, life: _Life) -> None:
        self._inner = inner
        self._life = life

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._life.dead = True
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _WatchedRead:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except (StopAsyncIteration, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._life.dead = True
            raise

    async def __aenter__(self) -> _WatchedRead:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@contextlib.asynccontextmanager
async def _watched(inner: AbstractAsyncContextManager[Any], life: _Life) -> AsyncIterator[Any]:
    async with inner as (read, write):
        try:
            yield _WatchedRead(read, life), write
        finally:
            life.dead = True


@dataclass
class _Job:
    fn: Callable[[Client], Awaitable[Any]]
    future: asyncio.Future[Any]


class _SessionGone(Exception):
    pass


def _where(config: McpConfig) -> str:
    """The server as a person reads it, without credentials, query or arguments."""
    if config.url:
        return describe_origin(config.url) + urlsplit(config.url).path
    return os.path.basename(config.command[0]) if config.command else "(no command)"


def _describe(exc: BaseException, config: McpConfig) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    where = _where(config)
    if isinstance(exc, AddressRefused | McpUnavailable | ValueError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"could not start the MCP server: command not found: {config.command[0]}"
    if isinstance(exc, MCPError):
        return f"the MCP server {where} failed: {exc.error.message}"
    text = str(exc).lower()
    if "refused" in text or "connect" in type(exc).__name__.lower():
        return f"could not reach the MCP server {where}: connection refused"
    return f"the MCP server {where} failed ({type(exc).__name__})"


class _Session:
    def __init__(self, key: str, config: McpConfig, policy: NetPolicy, idle_ttl_s: float) -> None:
        self.config = config
        self.life = _Life()
        self.queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.tools: dict[str, types.Tool] | None = None
        self.inflight = 0
        self.last_used = time.monotonic()
        self._policy = policy
        self._idle_ttl_s = idle_ttl_s
        self.task = asyncio.create_task(self._run(), name=f"mcp-session:{key}")

    @property
    def usable(self) -> bool:
        return not self.life.dead and not self.task.done()

    async def _transport(self, stack: AsyncExitStack) -> AbstractAsyncContextManager[Any]:
        cfg = self.config
        if cfg.transport == "stdio":
            if not cfg.command:
                raise McpUnavailable("the MCP service has no command to run")
            params = StdioServerParameters(
                command=cfg.command[0], args=list(cfg.command[1:]), env=dict(cfg.env) or None
            )
            # The server's stderr is discarded: it may echo its environment (secrets).
            return stdio_client(params, errlog=cast(TextIO, subprocess.DEVNULL))
        if not cfg.url:
            raise McpUnavailable("the MCP service has no URL")
        normalize_base_url(cfg.url)  # http(s) only, no credentials in the URL
        # Building the client loads the CA bundle from disk: off the event loop.
        http = await asyncio.to_thread(
            guarded_client2, self._policy, timeout=cfg.timeout_s, headers=dict(cfg.headers)
        )
        await stack.enter_async_context(http)
        return streamable_http_client(cfg.url.strip(), http_client=http)

    async def _run(self) -> None:
        try:
            async with AsyncExitStack() as stack:
                transport = _watched(await self._transport(stack), self.life)
                client = Client(transport, read_timeout_seconds=self.config.timeout_s, cache=None)
                await stack.enter_async_context(client)
                self.ready.set_result(None)
                async with anyio.create_task_group() as tg:
                    while True:
                        try:
                            job = await asyncio.wait_for(self.queue.get(), timeout=1.0)
                        except TimeoutError:
                            idle = time.monotonic() - self.last_used > self._idle_ttl_s
                            if self.inflight == 0 and (idle or self.life.dead):
                                break
                            continue
                        if job is None:
                            tg.cancel_scope.cancel()
                            break
                        tg.start_soon(self._serve, client, job)
        except Exception as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            else:
                log.warning("MCP session ended: %s", _describe(exc, self.config))
        finally:
            self.life.dead = True
            if not self.ready.done():
                self.ready.set_exception(McpUnavailable("the MCP session was closed"))
            while not self.queue.empty():
                job = self.queue.get_nowait()
                if job is not None and not job.future.done():
                    job.future.set_exception(_SessionGone())

    async def _serve(self, client: Client, job: _Job) -> None:
        self.inflight += 1
        try:
            result = await job.fn(client)
        except Exception as exc:
            if not job.future.done():
                job.future.set_exception(exc)
        except BaseException:
            job.future.cancel()
            raise
        else:
            if not job.future.done():
                job.future.set_result(result)
        finally:
            self.inflight -= 1
            self.last_used = time.monotonic()

    async def submit(self, fn: Callable[[Client], Awaitable[Any]]) -> Any:
        if not self.usable:
            raise _SessionGone()
        self.last_used = time.monotonic()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Job(fn, future))
        return await future

    async def stop(self) -> None:
        if self.task.done():
            return
        if self.ready.done():
            self.queue.put_nowait(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.task), timeout=10)
        if not self.task.done():
            self.task.cancel()
        await asyncio.wait([self.task])


# --- the pool ------------------------------------------------------------------------------


def _content_text(result: types.CallToolResult) -> str:
    parts: list[str] = []
    for item in result.content:
        if isinstance(item, types.TextContent):
            parts.append(item.text)
        else:
            parts.append(f"[{getattr(item, 'type', 'content')}]")
    return "\n".join(parts)


class McpPool:
    """Long-lived MCP sessions keyed by service, started on demand and reused."""

    def __init__(self, *, idle_ttl_s: float = 300, policy: NetPolicy | None = None) -> None:
        self._idle_ttl_s = idle_ttl_s
        self._policy = policy or NetPolicy()
        self._sessions: dict[str, _Session] = {}
        self._lock = asyncio.Lock()

    def is_alive(self, key: str) -> bool:
        """Whether a live session exists for this key (no I/O)."""
        session = self._sessions.get(key)
        return session is not None and session.usable and session.ready.done()

    async def _session(self, key: str, config: McpConfig) -> _Session:
        async with self._lock:
            session = self._sessions.get(key)
            if session is not None and (session.config != config or not session.usable):
                del self._sessions[key]
                await session.stop()
                session = None
            if session is None:
                session = _Session(key, config, self._policy, self._idle_ttl_s)
                self._sessions[key] = session
        try:
            await asyncio.wait_for(asyncio.shield(session.ready), timeout=config.timeout_s)
        except Exception as exc:
            async with self._lock:
                if self._sessions.get(key) is session:
                    del self._sessions[key]
            await session.stop()
            if isinstance(exc, TimeoutError):
                raise McpUnavailable(
                    f"the MCP server did not answer within {config.timeout_s:g} s"
                ) from exc
            raise McpUnavailable(_describe(exc, config)) from exc
        return session

    async def _tools(self, key: str, config: McpConfig, *, refresh: bool) -> dict[str, types.Tool]:
        async def fetch(client: Client) -> dict[str, types.Tool]:
            tools: dict[str, types.Tool] = {}
            cursor: str | None = None
            for _ in range(100):
                page = await client.list_tools(cursor=cursor)
                tools.update((tool.name, tool) for tool in page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
            return tools

        for attempt in (1, 2):  # listing is read-only: one reconnect on a dead session
            session = await self._session(key, config)
            if session.tools is not None and not refresh:
                return session.tools
            try:
                session.tools = await session.submit(fetch)
                return session.tools
            except _SessionGone:
                continue
            except MCPError as exc:
                if exc.code != types.CONNECTION_CLOSED or attempt == 2:
                    raise McpUnavailable(_describe(exc, config)) from exc
                session.life.dead = True
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                if attempt == 2:
                    raise McpUnavailable(_describe(exc, config)) from exc
                session.life.dead = True
        raise McpUnavailable("the MCP server closed the connection twice in a row")

    async def list_tools(self, key: str, config: McpConfig) -> list[OperationSpec]:
        """The server's tools as operations; raises McpUnavailable when it cannot be reached."""
        tools = await self._tools(key, config, refresh=True)
        return [tool_to_operation(tool) for tool in tools.values()]

    async def call_tool(
        self, key: str, config: McpConfig, tool: str, arguments: Mapping[str, Any]
    ) -> InvokeResult:
        """Call one tool; arguments are validated against its inputSchema first."""
        start = time.monotonic()
        if not isinstance(arguments, Mapping):
            raise InvalidArguments("arguments must be a JSON object")
        try:
            tools = await self._tools(key, config, refresh=False)
            if tool not in tools:
                tools = await self._tools(key, config, refresh=True)
        except McpUnavailable as exc:
            return self._result(key, tool, start, ok=False, error=str(exc))
        if tool not in tools:
            raise InvalidArguments(f"the MCP server has no tool `{tool}`")
        schema = tools[tool].input_schema or {}
        problems = schema_problems("", schema, dict(arguments))
        known = schema.get("properties")
        if isinstance(known, dict) and schema.get("additionalProperties") in (None, False):
            problems += [f"unknown argument `{k}`" for k in arguments if k not in known]
        if problems:
            raise InvalidArguments("; ".join(problems))
        timeout = config.timeout_s

        async def call(client: Client) -> types.CallToolResult:
            return await client.call_tool(tool, dict(arguments), read_timeout_seconds=timeout)

        try:
            session = await self._session(key, config)
            result: types.CallToolResult = await asyncio.wait_for(
                session.submit(call), timeout=timeout + 5
            )
        except McpUnavailable as exc:
            return self._result(key, tool, start, ok=False, error=str(exc))
        except TimeoutError:
            return self._result(key, tool, start, ok=False, error=f"timed out after {timeout:g} s")
        except _SessionGone:
            return self._result(
                key, tool, start, ok=False, error="the MCP session closed before the call was sent"
            )
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                error = f"timed out after {timeout:g} s"
            elif exc.code == types.CONNECTION_CLOSED:
                session.life.dead = True
                error = "the connection to the MCP server broke during the call; it may have run"
            else:
                error = f"the MCP server refused the call: {exc.error.message}"
            return self._result(key, tool, start, ok=False, error=error)
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            session.life.dead = True
            return self._result(
                key, tool, start, ok=False,
                error="the connection to the MCP server broke during the call; it may have run",
            )  # fmt: skip
        text = _content_text(result)
        raw = text.encode()
        truncated = len(raw) > config.max_bytes
        if truncated:
            text = raw[: config.max_bytes].decode("utf-8", "replace")
        body: Any = result.structured_content if result.structured_content is not None else text
        if result.is_error:
            message = text.strip().split("\n")[0][:300] or "the tool reported an error"
            return self._result(
                key, tool, start, ok=False, body=body, error=f"the tool failed: {message}",
                nbytes=len(raw), truncated=truncated,
            )  # fmt: skip
        return self._result(
            key, tool, start, ok=True, body=body, nbytes=len(raw), truncated=truncated
        )

    @staticmethod
    def _result(
        key: str,
        tool: str,
        start: float,
        *,
        ok: bool,
        body: Any = None,
        error: str | None = None,
        nbytes: int = 0,
        truncated: bool = False,
    ) -> InvokeResult:
        ms = int((time.monotonic() - start) * 1000)
        log.info(
            "TOOL %s -> %s",
            tool,
            "ok" if ok else "error",
            extra={"service": key, "operation": tool, "status": "ok" if ok else "error",
                   "bytes": nbytes, "ms": ms},
        )  # fmt: skip
        return InvokeResult(
            ok=ok, status_code=None, body=body, truncated=truncated, bytes=nbytes,
            duration_ms=ms, error=error,
        )  # fmt: skip

    async def aclose(self) -> None:
        """Close every session (stdio processes are stopped)."""
        async with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
