"""A tiny real MCP server over stdio (the SDK's MCPServer) with a tool that runs shell commands.

It never runs anything: it answers what it would have run, so a test can prove which commands
reached it. Started by tests as ``python tests/services/mcp_command_server.py``.
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("piloto-command-test")


@server.tool()
def run_command(command: str) -> str:
    """Run a shell command on the host and return its output."""
    return f"would run: {command}"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def show_env(name: str) -> str:
    """Print one environment variable (a debugging tool that leaks what it is given)."""
    return f"{name}={os.environ.get(name, '')}"


if __name__ == "__main__":
    server.run("stdio")
