"""Real servers on loopback for the services tests: httpbin, a FastAPI test API (and a second
copy on 127.0.0.2 that must never be reached), an MCP server over streamable HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from tests.support.prism import PRISM, start_prism
from tests.support.serve import serve_asgi
from tests.support.specs import GITHUB_API, OAI
from werkzeug.serving import make_server


@dataclass
class Served:
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


def make_test_api() -> tuple[FastAPI, Served]:
    """A FastAPI app that records every request it receives (raw path included)."""
    app = FastAPI(openapi_url="/openapi.json")
    served = Served(url="")
    served.state["big_sent"] = 0

    @app.middleware("http")
    async def record(request: Request, call_next: Callable[[Request], Any]) -> Any:
        served.seen.append(
            {
                "method": request.method,
                "raw_path": request.scope.get("raw_path", b"").decode("latin-1"),
                "query": request.scope.get("query_string", b"").decode("latin-1"),
                "headers": dict(request.headers),
            }
        )
        return await call_next(request)

    @app.get("/items/{item_id:path}")
    async def get_item(item_id: str) -> dict[str, str]:
        return {"item_id": item_id}

    @app.get("/files/{name:path}/raw")
    async def get_file(name: str, request: Request) -> dict[str, str]:
        return {"name": name}

    @app.post("/command")
    async def command(payload: dict[str, Any]) -> dict[str, Any]:
        return {"ran": payload}

    @app.get("/json")
    async def json_(request: Request) -> dict[str, Any]:
        return {"hello": "world", "query": dict(request.query_params)}

    @app.get("/redirect")
    async def redirect(to: str, code: int = 302) -> RedirectResponse:
        return RedirectResponse(to, status_code=code)

    @app.get("/loop")
    async def loop() -> RedirectResponse:
        return RedirectResponse("/loop", status_code=307)

    @app.get("/big")
    async def big() -> StreamingResponse:
        chunk = b"x" * 65536

        async def gen() -> AsyncIterator[bytes]:
            for _ in range(50 * 1024 * 1024 // len(chunk)):
                served.state["big_sent"] += len(chunk)
                yield chunk

        return StreamingResponse(gen(), media_type="application/octet-stream")

    @app.get("/slow")
    async def slow() -> PlainTextResponse:
        await asyncio.sleep(30)
        return PlainTextResponse("late")

    @app.get("/teapot")
    async def teapot() -> JSONResponse:
        return JSONResponse({"error": "short and stout"}, status_code=418)

    @app.get("/html")
    async def html() -> PlainTextResponse:
        return PlainTextResponse("<html><body>hi</body></html>", media_type="text/html")

    return app, served


@pytest.fixture(scope="session")
def _test_api_server() -> Iterator[Served]:
    app, served = make_test_api()
    for url in serve_asgi(app):
        served.url = url
        yield served


@pytest.fixture
def test_api(_test_api_server: Served) -> Served:
    _test_api_server.seen.clear()
    _test_api_server.state["big_sent"] = 0
    return _test_api_server


def _can_bind(host: str) -> bool:
    try:
        with socket.socket() as sock:
            sock.bind((host, 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def _other_server() -> Iterator[Served]:
    host = "127.0.0.2" if _can_bind("127.0.0.2") else None
    if host is None:
        pytest.skip("cannot bind 127.0.0.2 on this machine")
    app, served = make_test_api()
    for url in serve_asgi(app, host):
        served.url = url
        yield served


@pytest.fixture
def other_api(_other_server: Served) -> Served:
    """A second server on another origin that must never receive anything."""
    _other_server.seen.clear()
    return _other_server


@pytest.fixture(scope="session")
def httpbin_url() -> Iterator[str]:
    """httpbin's Flask app under werkzeug on loopback."""
    from httpbin import app as httpbin_app

    server = make_server("127.0.0.1", 0, httpbin_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture(scope="session")
def static_specs_url() -> Iterator[str]:
    """The real documents served as static files (another origin than the API under test):
    ``/github-api.json`` and ``/oai/*.yaml``."""
    from werkzeug.middleware.shared_data import SharedDataMiddleware
    from werkzeug.wrappers import Response

    def not_found(environ: Any, start_response: Any) -> Any:
        return Response("not found", status=404)(environ, start_response)

    app = SharedDataMiddleware(not_found, {"/github-api.json": str(GITHUB_API), "/oai": str(OAI)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def _prism(document: str) -> Iterator[str]:
    if not PRISM.exists():
        pytest.skip("Prism is not installed: ./run test installs it in .tools (npm)")
    if not Path(document).exists():
        pytest.skip(f"{document} is not installed: ./run test installs it in .tools (npm)")
    yield from start_prism(document)


@pytest.fixture(scope="session")
def prism_github() -> Iterator[str]:
    """Prism mocking GitHub's document: one for the whole session, it takes ~35 s to start."""
    yield from _prism(str(GITHUB_API))


@pytest.fixture(scope="session")
def prism_petstore() -> Iterator[str]:
    """Prism mocking the OAI petstore."""
    yield from _prism(str(OAI / "petstore.yaml"))


@pytest.fixture(scope="session")
def mcp_http_server() -> Iterator[Served]:
    """An MCP server (the SDK's MCPServer) over streamable HTTP with a read-only tool, a
    destructive tool and a slow tool; records the client ports of its TCP connections and the
    headers of every request."""
    from mcp.server.mcpserver import MCPServer
    from mcp_types import ToolAnnotations

    served = Served(url="")
    served.state.update(calls=0, wiped=0, connections=set())
    server = MCPServer("piloto-test")

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def peek(name: str) -> str:
        """Read a value without changing anything."""
        served.state["calls"] += 1
        return f"hello {name}"

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True))
    def wipe(target: str) -> str:
        """Delete everything under target."""
        served.state["wiped"] += 1
        return f"wiped {target}"

    @server.tool()
    async def sleepy(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "awake"

    inner = server.streamable_http_app()

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            served.state["connections"].add(scope["client"][1])
            served.seen.append(
                {
                    "method": scope["method"],
                    "headers": {
                        k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                    },
                }
            )
        await inner(scope, receive, send)

    for url in serve_asgi(counting, lifespan="on"):
        served.url = url + "/mcp"
        yield served
