"""At most once, without a crash: a request whose outcome is unknown is never re-sent on its own
unless it is idempotent; it waits for a person instead."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from runner_support import (
    CountingState,
    chat_state,
    confirm,
    make_counting_app,
    messages,
    new_chat,
    ok,
    processes_matching,
    propose,
    register,
    serve_in_thread,
    wait_run,
)


async def _read(path: Path) -> str | None:
    def read() -> str | None:
        return path.read_text() if path.exists() else None

    return await asyncio.to_thread(read)


async def _gone(marker: str) -> None:
    """Wait until no process runs ``marker`` (the toolbox stops a command its caller left)."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if not await asyncio.to_thread(processes_matching, marker):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"`{marker}` is still running")


def _note(msgs: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    return next(
        m
        for m in msgs
        if m["run_id"] == run_id and (m.get("meta") or {}).get("kind") == "interrupted"
    )


async def test_a_timed_out_write_command_runs_once_and_waits_for_a_person(
    client: httpx.AsyncClient, toolbox_url: str, tmp_path: Path
) -> None:
    _, chat_id = await new_chat(client)
    await register(client, "box", toolbox_url, timeout_s=3)
    marker = "sleep 8.31"
    run = await propose(client, chat_id, f"/cmd box date >> deliveries.txt; {marker}")
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "interrupted", final
    step = final["steps"][0]
    assert step["status"] == "interrupted" and step["attempts"] == 1
    assert "timed out" in step["error"] and "unknown" in step["error"]
    await _gone(marker)
    delivered = await _read(tmp_path / "toolbox-work" / "deliveries.txt")
    assert delivered is not None and len(delivered.splitlines()) == 1
    note = _note(await messages(client, chat_id), run["id"])
    assert "whether it took effect is unknown" in note["content"]
    assert "date >> deliveries.txt" in note["content"]  # what to check
    assert "retry the step, skip it, or abort" in note["content"]
    assert note["meta"]["choices"] == ["retry", "skip", "abort"]
    # The run stays the chat's active run until a person decides; aborting ends it.
    assert (await chat_state(client, chat_id))["active_run_id"] == run["id"]
    ok(await client.post(f"/api/runs/{run['id']}/decision", json={"decision": "abort"}))
    assert (await wait_run(client, run["id"], frozenset({"cancelled"})))["status"] == "cancelled"
    assert (await chat_state(client, chat_id))["active_run_id"] is None
    assert len((await _read(tmp_path / "toolbox-work" / "deliveries.txt") or "").splitlines()) == 1


async def test_a_timed_out_read_command_is_not_started_twice(
    client: httpx.AsyncClient, toolbox_url: str, tmp_path: Path
) -> None:
    """`sleep` only reads, yet a second copy beside one still running is not what was confirmed."""
    _, chat_id = await new_chat(client)
    await register(client, "box", toolbox_url, timeout_s=2)
    marker = "sleep 6.2718"
    run = await propose(client, chat_id, f"/cmd box {marker}")
    assert run["risk"] == "read", run
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "interrupted", final
    assert final["steps"][0]["attempts"] == 1
    await _gone(marker)


async def test_a_write_command_killed_by_its_own_timeout_is_not_sent_again(
    client: httpx.AsyncClient, toolbox_url: str, tmp_path: Path
) -> None:
    _, chat_id = await new_chat(client)
    await register(client, "box", toolbox_url)
    run = await propose(
        client,
        chat_id,
        '/call box run_command {"cmd": "touch x; echo once >> x; sleep 5", "timeout_s": 1}',
    )
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    # It ran, and it failed: a write is not repeated.
    assert final["status"] == "error", final
    step = final["steps"][0]
    assert step["attempts"] == 1 and "timed out" in step["error"]
    assert await _read(tmp_path / "toolbox-work" / "x") == "once\n"


async def test_a_timed_out_post_is_not_sent_again(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(client)
    await register(client, "shop", url, timeout_s=0.5)
    run = await propose(client, chat_id, '/call shop createOrder {"item": "pen", "delay": 5}')
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "interrupted", final
    assert final["steps"][0]["attempts"] == 1
    assert state.snapshot()["by_path"] == {"POST /orders": 1}
    note = _note(await messages(client, chat_id), run["id"])
    assert "in shop whether the request was applied" in note["content"]


async def test_a_timed_out_get_is_retried(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(client)
    await register(client, "shop", url, timeout_s=0.5)
    run = await propose(client, chat_id, '/call shop getItem {"item_id": "slow", "delay": 5}')
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    # Idempotent: every attempt is sent, and the step ends in error, not interrupted.
    assert final["status"] == "error", final
    assert final["steps"][0]["attempts"] == 3
    assert state.snapshot()["by_path"] == {"GET /items/slow": 3}


async def test_a_post_refused_before_sending_is_retried(client: httpx.AsyncClient) -> None:
    _, chat_id = await new_chat(client)
    app, state = make_counting_app()
    server = serve_in_thread(app)
    url = await asyncio.to_thread(server.__enter__)
    await register(client, "shop", url)
    await asyncio.to_thread(server.__exit__, None, None, None)
    # The service is gone: connecting is refused, so nothing was sent and trying again is safe.
    run = await propose(client, chat_id, '/call shop createOrder {"item": "pen"}')
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "error", final
    step = final["steps"][0]
    assert step["attempts"] == 3 and "could not connect" in step["error"]
    assert state.snapshot()["requests"] == []
