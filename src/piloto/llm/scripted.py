"""A scripted OpenAI-compatible server on loopback: the fake at the LLM's protocol edge.

It speaks `POST /v1/chat/completions` (SSE streaming and plain JSON) and `GET /v1/models`,
answering from a queue of `Reply`s. Run it in-process (`with ScriptedLLM() as llm:`) or alone:
`python -m piloto.llm.scripted --port 8899 --text "hello"`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from piloto.llm.scripted_wire import (
    FAULTS,
    Reply,
    _chunks,
    _completion,
    _error,
    _error_reply,
    _retry_headers,
)

__all__ = ["FAULTS", "NO_REPLY_MESSAGE", "Reply", "ScriptedLLM", "load_script", "main"]

NO_REPLY_MESSAGE = "scripted server: no reply queued"


class ScriptedLLM:
    """A real HTTP server on a free loopback port that answers from a script of replies."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, model: str = "scripted") -> None:
        self.host = host
        self.port = port
        self.model = model
        self.default: Reply | None = None
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self._queue: collections.deque[Reply] = collections.deque()
        self._responder: Callable[[dict[str, Any]], Reply] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # -- script -----------------------------------------------------------------------------

    def push(self, *replies: Reply) -> None:
        """Queue replies, answered in order, one per request."""
        with self._lock:
            self._queue.extend(replies)

    def responder(self, fn: Callable[[dict[str, Any]], Reply]) -> None:
        """Compute replies from the request body once the queue is empty."""
        self._responder = fn

    def reset(self) -> None:
        """Forget the script (queued replies, responder, default) and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.request_headers.clear()
            self._responder = None
            self.default = None

    def _next_reply(self, body: dict[str, Any]) -> Reply | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self._responder is not None:
            return self._responder(body)
        return self.default

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1` once started."""
        if self._base_url is None:
            raise RuntimeError("scripted server not started")
        return self._base_url

    def start(self) -> None:
        """Start serving in a background thread; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("scripted server already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            _build_app(self),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._stopping.clear()
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="scripted-llm", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                self._server = self._thread = None
                raise RuntimeError("scripted server failed to start")
            time.sleep(0.005)
        self._base_url = f"http://{self.host}:{self.port}/v1"

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.should_exit = True
        thread.join(timeout=10)
        self._server = self._thread = None
        self._base_url = None

    def __enter__(self) -> ScriptedLLM:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> ScriptedLLM:
        # Starting binds a socket and waits for a thread: keep that off the event loop.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- answering --------------------------------------------------------------------------

    async def _sleep(self, seconds: float, request: Request) -> None:
        """Sleep, but give up early when the client left or the server stops."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping.is_set() or await request.is_disconnected():
                return
            await asyncio.sleep(min(left, 0.05))

    async def chat_completions(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON", "invalid_request_error", None)
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object", "invalid_request_error", None)
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(dict(request.headers))
        reply = self._next_reply(body)
        if reply is None:
            # Not worth retrying: tell the SDK so the failure is quick and plain.
            return _error(500, NO_REPLY_MESSAGE, "server_error", None, {"x-should-retry": "false"})
        if reply.delay_s > 0:
            await self._sleep(reply.delay_s, request)
        headers = _retry_headers(reply.retry_after)
        if reply.status != 200:
            return _error_reply(reply, request, headers)
        model = str(body.get("model") or self.model)
        if reply.fault == "html_200":
            return HTMLResponse("<html><body><h1>Welcome to nginx!</h1></body></html>")
        if reply.fault == "json_200":
            return JSONResponse(_completion(reply, model), headers=headers)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                self._stream(reply, model, include_usage),
                media_type="text/event-stream",
                headers={**headers, "cache-control": "no-cache"},
            )
        return JSONResponse(_completion(reply, model), headers=headers)

    async def _stream(self, reply: Reply, model: str, include_usage: bool) -> AsyncIterator[str]:
        for chunk in _chunks(reply, model, include_usage):
            yield f"data: {json.dumps(chunk)}\n\n"
            if reply.chunk_delay_s > 0 and not self._stopping.is_set():
                await asyncio.sleep(reply.chunk_delay_s)
        if reply.fault not in ("cut", "cut_tool", "no_done"):
            yield "data: [DONE]\n\n"


def _build_app(llm: ScriptedLLM) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": llm.model, "object": "model", "created": 0, "owned_by": "piloto"}],
        }

    app.add_api_route("/v1/chat/completions", llm.chat_completions, methods=["POST"])
    return app


def load_script(path: Path) -> list[Reply]:
    """Read a JSON list of replies (the fields of `Reply`)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of replies")
    return [Reply.from_dict(item) for item in data]


def main(argv: list[str] | None = None) -> int:
    """Run the scripted server in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m piloto.llm.scripted",
        description="A scripted OpenAI-compatible chat server for demos and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8899, help="0 picks a free port")
    parser.add_argument("--text", help="reply with this text whenever the script is used up")
    parser.add_argument("--script", type=Path, help="JSON file: a list of replies, in order")
    parser.add_argument("--model", default="scripted", help="model id listed by /v1/models")
    args = parser.parse_args(argv)

    llm = ScriptedLLM(host=args.host, port=args.port, model=args.model)
    if args.script is not None:
        llm.push(*load_script(args.script))
    if args.text is not None:
        llm.default = Reply(text=args.text)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    llm.start()
    print(f"scripted LLM listening on {llm.base_url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        llm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
