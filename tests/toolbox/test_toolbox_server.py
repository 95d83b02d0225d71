"""The real service over real HTTP: uvicorn on a free loopback port."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from toolbox_helpers import TOKEN

from piloto.toolbox import ToolboxConfig, start_toolbox, start_toolbox_in_thread

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_start_toolbox_in_the_running_loop(workdir: Path) -> None:
    running = await start_toolbox(ToolboxConfig(port=0, token=TOKEN, workdir=workdir))
    try:
        assert running.base_url.startswith("http://127.0.0.1:")
        assert not running.base_url.endswith(":0")
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            assert (await client.get("/health")).json()["status"] == "ok"
            assert (await client.post("/command", json={"cmd": "true"})).status_code == 401
            response = await client.post("/command", json={"cmd": "echo over-http"}, headers=AUTH)
            assert response.json()["stdout"] == "over-http\n"
    finally:
        await running.stop()
    assert running.task.done()


def test_start_toolbox_in_thread(workdir: Path) -> None:
    base_url, stop = start_toolbox_in_thread(ToolboxConfig(port=0, workdir=workdir))
    try:
        response = httpx.post(f"{base_url}/command", json={"cmd": "exit 3"}, timeout=30)
        assert response.json()["exit_code"] == 3
    finally:
        stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/health", timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_toolbox_as_a_process(workdir: Path) -> None:
    port = _free_port()
    code = (
        "from pathlib import Path; from piloto.toolbox import ToolboxConfig, serve_toolbox; "
        f"serve_toolbox(ToolboxConfig(port={port}, token={TOKEN!r}, workdir=Path({str(workdir)!r})))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base_url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "the toolbox exited early"
                assert time.monotonic() < deadline, "the toolbox never answered"
                time.sleep(0.1)
        response = httpx.post(
            f"{base_url}/command", json={"cmd": "echo real"}, headers=AUTH, timeout=30
        )
        assert response.json()["stdout"] == "real\n"
        spec = httpx.get(f"{base_url}/openapi.json", timeout=5).json()
        assert spec["paths"]["/command"]["post"]["x-piloto-risk"] == "write"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert TOKEN.encode() not in output


def _health_of_cli(args: list[str], env: dict[str, str]) -> dict[str, object]:
    """Start `piloto toolbox ARGS` with `env`, return its /health, stop it."""
    port = _free_port()
    piloto = str(Path(sys.executable).with_name("piloto"))
    proc = subprocess.Popen(
        [piloto, "toolbox", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health: dict[str, object] = httpx.get(
                    f"http://127.0.0.1:{port}/health", timeout=2
                ).json()
                return health
            except httpx.TransportError:
                assert proc.poll() is None, "the toolbox exited early"
                assert time.monotonic() < deadline, "the toolbox never answered"
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


@pytest.mark.slow
def test_cli_sandbox_options_and_their_environment(tmp_path: Path) -> None:
    work = str(tmp_path / "work")
    base = ["--workdir", work, "--hide", str(tmp_path / "data")]
    env = {"PILOTO_TOOLBOX_DISK_MB": "40", "PILOTO_TOOLBOX_TMP_MB": "9"}
    health = _health_of_cli([*base, "--sandbox", "rlimits"], env)
    assert (health["commands"], health["network"]) == ("read-only", False)
    assert (health["disk_quota_bytes"], health["tmp_bytes"]) == (40 * 1024**2, 9 * 1024**2)
    env = {"PILOTO_TOOLBOX_UNSANDBOXED": "1", "PILOTO_TOOLBOX_NETWORK": "host"}
    health = _health_of_cli([*base, "--sandbox", "rlimits"], env)
    assert (health["commands"], health["network"]) == ("all", True)
