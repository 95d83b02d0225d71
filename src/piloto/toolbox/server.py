"""Running the toolbox: standalone with uvicorn, or inside another program's event loop."""

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn

from piloto.toolbox.app import create_toolbox_app
from piloto.toolbox.config import ToolboxConfig

# Idle connections are kept longer than clients keep them (Piloto: 1 s), so a client never
# sends a command on a connection the toolbox is closing (an unknown outcome: not re-sent).
KEEP_ALIVE_S = 75


def serve_toolbox(config: ToolboxConfig) -> None:
    """Serve the toolbox until interrupted (what `piloto toolbox` runs)."""
    app = create_toolbox_app(config)
    # uvicorn's access log shows method and path only: the Authorization header never lands there.
    uvicorn.run(
        app, host=config.host, port=config.port, log_level="info",
        timeout_keep_alive=KEEP_ALIVE_S,
    )  # fmt: skip


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Embedded in a host program: Ctrl-C and SIGTERM belong to the host, which stops us.
        yield


def _bind(config: ToolboxConfig) -> socket.socket:
    # Binding here (not inside uvicorn) turns "port in use" into an OSError for the caller
    # instead of uvicorn's sys.exit(1) inside a task.
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host.strip("[]"), config.port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _url(config: ToolboxConfig, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    host = config.host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class RunningToolbox:
    """A toolbox served inside the current event loop; `await stop()` ends it."""

    base_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Ask uvicorn to exit and wait for it."""
        self.server.should_exit = True
        await self.task


async def start_toolbox(config: ToolboxConfig) -> RunningToolbox:
    """Start the toolbox as a task of the running loop; port 0 picks a free port."""
    # The sandbox probe runs a process and waits for it: keep it off the event loop.
    app = await asyncio.to_thread(create_toolbox_app, config)
    sock = _bind(config)
    server = _EmbeddedServer(
        uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # raises what stopped it
            raise RuntimeError("the toolbox stopped before it started")
        await asyncio.sleep(0.01)
    return RunningToolbox(base_url=_url(config, sock), server=server, task=task)


def start_toolbox_in_thread(config: ToolboxConfig) -> tuple[str, Callable[[], None]]:
    """Start the toolbox on its own thread and loop; returns (base_url, stop)."""
    ready = threading.Event()
    box: dict[str, object] = {}

    async def main() -> None:
        try:
            running = await start_toolbox(config)
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            raise
        box["running"] = running
        ready.set()
        await running.task

    def target() -> None:
        with contextlib.suppress(BaseException):
            asyncio.run(main())

    thread = threading.Thread(target=target, name="piloto-toolbox", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        error = box["error"]
        assert isinstance(error, BaseException)
        raise error
    running = box["running"]
    assert isinstance(running, RunningToolbox)

    def stop() -> None:
        running.server.should_exit = True
        thread.join(timeout=30)

    return running.base_url, stop
