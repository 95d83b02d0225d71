"""An ASGI app served by uvicorn on loopback in a thread, for session-scoped test servers."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any, Literal

import uvicorn


def serve_asgi(
    app: Any,
    host: str = "127.0.0.1",
    *,
    lifespan: Literal["on", "off"] = "off",
    port: int = 0,
    graceful_s: float = 0.5,
) -> Generator[str]:
    """Serve ``app`` until the generator is closed; yields its base URL once it listens.

    ``graceful_s`` bounds the shutdown: a test that left a request hanging on purpose (a
    service slower than the caller's timeout) has its answer by then, and no teardown should
    wait for the handler's sleep to end.
    """
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan=lifespan, ws="none",
        http="h11", loop="asyncio", timeout_graceful_shutdown=graceful_s,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
