"""kill -9 in the middle of steps: nothing runs twice, nothing is stuck, nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from runner_support import (
    ADMIN_TOKEN,
    FINAL,
    confirm,
    free_port,
    messages,
    new_chat,
    ok,
    processes_matching,
    propose,
    register,
    wait_run,
)

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


def _spawn(args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def tools(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The counting service and a toolbox, each in its own process (they survive the crash)."""
    env = {**os.environ, "PILOTO_DATA_DIR": str(tmp_path / "tools")}
    cport, tport = free_port(), free_port()
    counting = _spawn(
        [sys.executable, str(HERE / "runner_support.py"), str(cport)],
        env=env,
        log=tmp_path / "counting.log",
    )
    work = tmp_path / "toolbox-work"
    work.mkdir()
    code = (
        "from pathlib import Path; from piloto.toolbox import ToolboxConfig, serve_toolbox; "
        f"serve_toolbox(ToolboxConfig(port={tport}, workdir=Path({str(work)!r}), default_timeout_s=60))"
    )
    toolbox = _spawn([sys.executable, "-c", code], env=env, log=tmp_path / "toolbox.log")
    try:
        _wait_http(f"http://127.0.0.1:{cport}/openapi.json", counting, tmp_path / "counting.log")
        _wait_http(f"http://127.0.0.1:{tport}/health", toolbox, tmp_path / "toolbox.log")
        yield {"counting": f"http://127.0.0.1:{cport}", "toolbox": f"http://127.0.0.1:{tport}"}
    finally:
        _stop(counting)
        _stop(toolbox)


async def _until(check: Any, what: str, deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_kill_9_mid_step_then_restart(
    tmp_path: Path, database_url: str, tools: dict[str, str]
) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PILOTO_")},
        "PILOTO_DATA_DIR": str(tmp_path / "data"), "PILOTO_DATABASE_URL": database_url,
        "PILOTO_ADMIN_TOKEN": ADMIN_TOKEN, "PILOTO_DEMO": "0", "PILOTO_LEASE_S": "2", "PILOTO_HEARTBEAT_S": "0.5",
        "PILOTO_RETRY_BASE_S": "0.01",
    }  # fmt: skip
    serve = [str(BIN / "piloto"), "serve", "--port", str(port)]
    log = tmp_path / "server.log"
    server = _spawn(serve, env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    marker = "sleep 7.3141"
    read_marker = "sleep 7.2718"
    try:
        _wait_http(f"{base}/api/health", server, log)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as api:
            await register(api, "shop", tools["counting"])
            await register(api, "box", tools["toolbox"])
            plans = {
                "post": '/call shop createOrder {"item": "pen", "delay": 5}',
                "get": '/call shop getItem {"item_id": "slow", "delay": 5}',
                "cmd": f"/cmd box touch crash.txt; {marker}",
                "read": f"/cmd box {read_marker}",
            }
            chats: dict[str, str] = {}
            runs: dict[str, dict[str, Any]] = {}
            for name, text in plans.items():
                _, chats[name] = await new_chat(api)
                runs[name] = await propose(api, chats[name], text)
                await confirm(api, runs[name])

            async def all_in_flight() -> bool:
                seen = (await api.get(f"{tools['counting']}/stats")).json()["by_path"]
                return (
                    seen.get("POST /orders") == 1
                    and seen.get("GET /items/slow") == 1
                    and bool(processes_matching(marker))
                    and bool(processes_matching(read_marker))
                )

            await _until(all_in_flight, "every step to be in flight")
            os.killpg(server.pid, signal.SIGKILL)
            await asyncio.to_thread(server.wait, 10)

            server = _spawn(serve, env=env, log=log)
            _wait_http(f"{base}/api/health", server, log)
            final = {
                name: await wait_run(api, str(run["id"]), FINAL, deadline_s=60)
                for name, run in runs.items()
            }
            stats = (await api.get(f"{tools['counting']}/stats")).json()

            # The non-idempotent POST was received exactly once, and now waits for a person.
            post_key = final["post"]["steps"][0]["idempotency_key"]
            assert stats["by_key"][post_key] == 1
            assert final["post"]["status"] == "interrupted"
            assert final["post"]["steps"][0]["status"] == "interrupted"
            # So does the command that writes: the toolbox does not honour Idempotency-Key.
            assert final["cmd"]["status"] == "interrupted"
            # A command the policy classifies `read` is idempotent: resent, and it finished.
            assert final["read"]["status"] == "done", final["read"]
            assert final["read"]["steps"][0]["attempts"] == 2
            # The idempotent GET was resent under the same key and finished.
            assert final["get"]["status"] == "done", final["get"]
            assert stats["by_key"][final["get"]["steps"][0]["idempotency_key"]] == 2
            # Every message is there: proposal, confirmation, and what the runner said after the restart.
            for name, chat_id in chats.items():
                msgs = await messages(api, chat_id)
                kinds = [(m.get("meta") or {}).get("kind") for m in msgs]
                assert msgs[0]["role"] == "user" and "plan" in kinds, (name, msgs)
                assert any(m["content"].startswith("Confirmed by") for m in msgs), name
                expected = {
                    "post": "interrupted",
                    "cmd": "interrupted",
                    "get": "resumed",
                    "read": "resumed",
                }[name]
                assert expected in kinds, (name, kinds)
            assert "step" in [
                (m.get("meta") or {}).get("kind") for m in await messages(api, chats["get"])
            ]
            # The killed server's command did not outlive the call that started it.
            await _until(lambda: _none(marker), "the abandoned command to be killed", deadline_s=15)

            # A person decides: abort the POST run, skip the command's step.
            ok(
                await api.post(
                    f"/api/runs/{runs['post']['id']}/decision", json={"decision": "abort"}
                )
            )
            assert (await wait_run(api, str(runs["post"]["id"]), FINAL - {"interrupted"}))[
                "status"
            ] == "cancelled"
            ok(await api.post(f"/api/runs/{runs['cmd']['id']}/decision", json={"decision": "skip"}))
            skipped = await wait_run(api, str(runs["cmd"]["id"]), FINAL - {"interrupted"})
            assert skipped["status"] == "done" and skipped["steps"][0]["status"] == "skipped"
            assert (await api.get(f"{tools['counting']}/stats")).json()["by_key"][post_key] == 1
    finally:
        _stop(server)


async def _none(marker: str) -> bool:
    return not processes_matching(marker)
