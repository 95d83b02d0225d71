"""Browser tests: the real server as a subprocess, driven by Playwright with Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.waits import WAIT_S

ADMIN = "web-admin-token-0123456789"
CHROMIUM = os.environ.get("PILOTO_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running `piloto serve` and an admin API client for it."""

    base_url: str
    proc: subprocess.Popen[bytes]
    log: Path
    api: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.api = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
        )

    def project_id(self, name: str = "Demo") -> str:
        return next(p["id"] for p in self.api.get("/api/projects").json() if p["name"] == name)

    def new_chat(self, title: str, project: str = "Demo") -> dict[str, Any]:
        r = self.api.post(
            "/api/chats", json={"project_id": self.project_id(project), "title": title}
        )
        r.raise_for_status()
        return dict(r.json())

    def token(self, role: str, name: str | None = None) -> str:
        r = self.api.post(
            "/api/tokens", json={"name": name or f"{role}-{time.monotonic_ns()}", "role": role}
        )
        r.raise_for_status()
        return str(r.json()["token"])

    def stop(self) -> None:
        self.api.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def start_server(
    data_dir: Path, *, llm_base_url: str | None = None, port: int | None = None
) -> Server:
    """Start `piloto serve` (on a free port) with the demo toolbox, and wait until it answers."""
    port = port or _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTO_")}
    env.update(
        PILOTO_DATA_DIR=str(data_dir),
        PILOTO_ADMIN_TOKEN=ADMIN,
        PILOTO_DEMO="1",
        PYTHONUNBUFFERED="1",
    )
    if llm_base_url:
        env.update(PILOTO_LLM_BASE_URL=llm_base_url, PILOTO_LLM_MODEL="scripted")
    exe = Path(sys.executable).parent / "piloto"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "piloto.cli"]
    log = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + WAIT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"piloto serve exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            ok = server.api.get("/api/health", timeout=1).status_code == 200
            # The demo toolbox registers itself in the lifespan; wait until it is online.
            if ok and any(
                s["name"] == "demo" and s["status"] == "online"
                for s in server.api.get("/api/services").json()
            ):
                return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"piloto serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server in direct mode (no model) for the whole browser suite."""
    srv = start_server(tmp_path_factory.mktemp("piloto-web"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    # Only the tests that drive a browser skip without Chromium (not, say, the i18n checks).
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (set PILOTO_CHROMIUM)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


class PageErrors(list[str]):
    pass


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


def _new_page(browser: Any, errors: PageErrors, **context_args: Any) -> Any:
    ctx = browser.new_context(
        viewport=context_args.pop("viewport", {"width": 1280, "height": 800}), **context_args
    )
    # Sized for a busy CI machine; a wait that succeeds returns as soon as it can.
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


@pytest.fixture
def new_page(browser: Any, page_errors: PageErrors) -> Iterator[Any]:
    """A factory of fresh browser pages (own cookies); fails the test on any uncaught JS error."""
    pages: list[Any] = []

    def make(**context_args: Any) -> Any:
        page = _new_page(browser, page_errors, **context_args)
        pages.append(page)
        return page

    yield make
    for p in pages:
        p.context.close()
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


def shot(page: Any, name: str) -> None:
    """Save a screenshot to artifacts/screenshots/NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), animations="disabled", caret="initial")


def login(page: Any, server: Server, token: str = ADMIN) -> None:
    """Log in with a #token= link and wait for the app."""
    page.goto(f"{server.base_url}/#token={token}")
    page.wait_for_selector("#app", state="visible")


def open_chat(page: Any, chat: dict[str, Any]) -> None:
    """Route to a chat and wait until its timeline is loaded and live."""
    page.evaluate(
        "([p, c]) => { location.hash = `#/p/${p}/c/${c}`; }", [chat["project_id"], chat["id"]]
    )
    page.wait_for_selector(f"#crumb-chat:has-text('{chat['title']}')")
    page.wait_for_selector("#conn[data-status='live']")


def poll(page: Any, expression: str, arg: Any = None, timeout: float = 30.0) -> Any:
    """Evaluate until truthy: `wait_for_function` evaluates strings, which the page's CSP forbids."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still falsy after {timeout} s: {expression}")
        time.sleep(0.1)


def send(page: Any, text: str) -> None:
    """Type a message and press Enter."""
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")
