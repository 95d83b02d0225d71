"""In a real browser: when the demo toolbox's commands are not sandboxed, the UI says so, in
English and in Spanish."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("PILOTO_CHROMIUM", "/usr/bin/chromium")
ADMIN = "banner-admin-token-0123456789"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unsandboxed_server(tmp_path: Path) -> Iterator[str]:
    """`piloto serve` whose demo toolbox runs without bubblewrap (PILOTO_TOOLBOX_SANDBOX)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTO_")}
    env.update(
        PILOTO_DATA_DIR=str(tmp_path / "data"),
        PILOTO_ADMIN_TOKEN=ADMIN,
        PILOTO_TOOLBOX_SANDBOX="rlimits",
        PYTHONUNBUFFERED="1",
    )
    piloto = str(Path(sys.executable).with_name("piloto"))
    log = tmp_path / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [piloto, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if "demo_toolbox" in httpx.get(f"{base}/api/health", timeout=2).json():
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_ui_warns_that_commands_are_not_sandboxed(unsandboxed_server: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (set PILOTO_CHROMIUM)")
    health = httpx.get(f"{unsandboxed_server}/api/health", timeout=10).json()
    assert health["demo_toolbox"] == {
        "sandbox": "rlimits",
        "commands": "read-only",
        "sandboxed": False,
        "network": False,
        "service": "demo",
    }
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{unsandboxed_server}/#token={ADMIN}")
            banner = page.wait_for_selector("#sandbox-banner", state="visible")
            assert banner is not None
            text = banner.text_content() or ""
            assert "not sandboxed" in text and "only read-only commands run" in text
            assert banner.get_attribute("role") == "alert"
            page.evaluate("localStorage.setItem('piloto.lang', 'es')")
            page.reload()
            banner = page.wait_for_selector("#sandbox-banner:has-text('no están aislados')")
            assert banner is not None
            assert "solo se ejecutan comandos de lectura" in (banner.text_content() or "")
        finally:
            browser.close()
    assert not errors, errors
