"""MCP client pool against real servers: mcp-server-time over stdio, the SDK's MCPServer
over streamable HTTP on loopback."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.waits import eventually

from piloto.services.arguments import InvalidArguments
from piloto.services.mcp_client import McpConfig, McpPool, McpUnavailable
from piloto.services.netguard import NetPolicy

TIME = McpConfig(transport="stdio", command=(sys.executable, "-m", "mcp_server_time"))


def _time_server_pids() -> set[int]:
    """Children of this process running mcp_server_time."""
    pids = set()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and b"mcp_server_time" in cmdline and fields[0] != "Z":
            pids.add(int(entry.name))
    return pids


@pytest.fixture
async def pool() -> AsyncIterator[McpPool]:
    p = McpPool(idle_ttl_s=300)
    try:
        yield p
    finally:
        await p.aclose()


async def test_stdio_time_server_lists_and_calls(pool: McpPool) -> None:
    ops = {op.operation_id: op for op in await pool.list_tools("time", TIME)}
    assert {"get_current_time", "convert_time"} <= ops.keys()
    op = ops["get_current_time"]
    assert (op.method, op.path, op.risk, op.idempotent) == (
        "TOOL",
        "get_current_time",
        "read",
        True,
    )
    assert op.body_schema is not None and "timezone" in op.body_schema["properties"]

    result = await pool.call_tool("time", TIME, "get_current_time", {"timezone": "UTC"})
    assert result.ok, result.error
    assert result.body["timezone"] == "UTC"
    assert result.bytes > 0 and result.status_code is None


async def test_tool_error_is_not_ok(pool: McpPool) -> None:
    result = await pool.call_tool(
        "time", TIME, "get_current_time", {"timezone": "Nowhere/Atlantis"}
    )
    assert not result.ok
    assert result.error is not None and "Nowhere/Atlantis" in result.error


async def test_arguments_validated_before_the_call(pool: McpPool) -> None:
    with pytest.raises(InvalidArguments, match="timezone"):
        await pool.call_tool("time", TIME, "get_current_time", {})
    with pytest.raises(InvalidArguments, match="unknown argument `tz`"):
        await pool.call_tool("time", TIME, "get_current_time", {"timezone": "UTC", "tz": "x"})
    with pytest.raises(InvalidArguments, match="must be a string"):
        await pool.call_tool("time", TIME, "get_current_time", {"timezone": 5})
    with pytest.raises(InvalidArguments, match="no tool `rm_rf`"):
        await pool.call_tool("time", TIME, "rm_rf", {})


async def test_stdio_session_is_reused(pool: McpPool) -> None:
    before = _time_server_pids()
    await pool.list_tools("time", TIME)
    for _ in range(3):
        assert (await pool.call_tool("time", TIME, "get_current_time", {"timezone": "UTC"})).ok
    started = _time_server_pids() - before
    assert len(started) == 1


async def test_stdio_restart_after_the_process_is_killed(pool: McpPool) -> None:
    before = _time_server_pids()
    assert (await pool.call_tool("time", TIME, "get_current_time", {"timezone": "UTC"})).ok
    (first,) = _time_server_pids() - before
    os.kill(first, signal.SIGKILL)
    await eventually(lambda: not pool.is_alive("time"), "the pool to see the pipe close")
    result = await pool.call_tool("time", TIME, "get_current_time", {"timezone": "UTC"})
    assert result.ok, result.error
    now = _time_server_pids() - before
    assert first not in now and len(now) == 1


async def test_config_change_restarts_the_session(pool: McpPool) -> None:
    before = _time_server_pids()
    await pool.list_tools("time", TIME)
    changed = McpConfig(
        transport="stdio", command=TIME.command, env={"PILOTO_TEST": "1"}, timeout_s=20
    )
    await pool.list_tools("time", changed)
    assert len(_time_server_pids() - before) == 1  # the old process was stopped


async def test_missing_command_is_a_clear_error(pool: McpPool) -> None:
    config = McpConfig(transport="stdio", command=("/nonexistent/mcp-server",))
    with pytest.raises(McpUnavailable, match=r"could not start|command not found|failed"):
        await pool.list_tools("nope", config)
    result = await pool.call_tool("nope", config, "anything", {})
    assert not result.ok and result.error


async def test_aclose_stops_the_stdio_process() -> None:
    before = _time_server_pids()
    pool = McpPool()
    await pool.list_tools("time", TIME)
    assert len(_time_server_pids() - before) == 1
    await pool.aclose()
    assert not (_time_server_pids() - before)


async def test_idle_session_is_closed() -> None:
    before = _time_server_pids()
    pool = McpPool(idle_ttl_s=0)
    try:
        await pool.list_tools("time", TIME)
        await eventually(lambda: not pool.is_alive("time"), "the idle session to close")
        assert (await pool.call_tool("time", TIME, "get_current_time", {"timezone": "UTC"})).ok
    finally:
        await pool.aclose()
    assert not (_time_server_pids() - before)


# --- streamable HTTP -----------------------------------------------------------------------


def _http(server: Any, timeout_s: float = 10) -> McpConfig:
    return McpConfig(transport="http", url=server.url, timeout_s=timeout_s)


async def test_http_tools_and_risks(pool: McpPool, mcp_http_server: Any) -> None:
    ops = {op.operation_id: op for op in await pool.list_tools("web", _http(mcp_http_server))}
    assert ops["peek"].risk == "read" and ops["peek"].idempotent
    assert ops["wipe"].risk == "destructive" and not ops["wipe"].idempotent
    assert ops["sleepy"].risk == "write"
    result = await pool.call_tool("web", _http(mcp_http_server), "peek", {"name": "ana"})
    assert result.ok and "hello ana" in str(result.body)


async def test_http_session_is_reused(pool: McpPool, mcp_http_server: Any) -> None:
    config = _http(mcp_http_server)
    await pool.list_tools("web2", config)
    connections = set(mcp_http_server.state["connections"])
    calls = mcp_http_server.state["calls"]
    for i in range(3):
        assert (await pool.call_tool("web2", config, "peek", {"name": str(i)})).ok
    assert mcp_http_server.state["calls"] == calls + 3
    # the same session, hence the same HTTP client and its kept-alive connection
    assert mcp_http_server.state["connections"] == connections


async def test_http_call_timeout(pool: McpPool, mcp_http_server: Any) -> None:
    # The timeout also bounds starting the session: 3 s leaves room for a busy CI machine.
    config = _http(mcp_http_server, timeout_s=3)
    result = await pool.call_tool("web3", config, "sleepy", {"seconds": 20})
    assert not result.ok
    assert result.error == "timed out after 3 s"


async def test_http_mcp_goes_through_netguard(pool: McpPool) -> None:
    config = McpConfig(transport="http", url="http://169.254.169.254/mcp", timeout_s=5)
    with pytest.raises(McpUnavailable, match="metadata"):
        await pool.list_tools("evil", config)
    loopback_only = McpPool(policy=NetPolicy(allow_loopback=False))
    try:
        with pytest.raises(McpUnavailable, match="loopback"):
            await loopback_only.list_tools(
                "lo", McpConfig(transport="http", url="http://127.0.0.1:9/mcp")
            )
    finally:
        await loopback_only.aclose()


async def test_http_url_with_credentials_refused(pool: McpPool) -> None:
    config = McpConfig(transport="http", url="http://user:s3cret@127.0.0.1:9/mcp", timeout_s=5)
    with pytest.raises(McpUnavailable, match="credentials in the URL") as caught:
        await pool.list_tools("cred", config)
    assert "s3cret" not in str(caught.value)
    result = await pool.call_tool("cred", config, "peek", {})
    assert not result.ok and result.error and "s3cret" not in result.error


async def test_http_connection_refused(pool: McpPool) -> None:
    with socket_closed_port() as port:
        config = McpConfig(transport="http", url=f"http://127.0.0.1:{port}/mcp", timeout_s=5)
        with pytest.raises(McpUnavailable, match=r"could not reach|refused|failed"):
            await pool.list_tools("down", config)


class socket_closed_port:
    """A loopback port with nothing listening."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None
