"""The runner end to end through the real app: steps, messages, templating, failure, retry, cancel."""

from __future__ import annotations

import httpx
from runner_support import (
    CountingState,
    chat_state,
    confirm,
    messages,
    new_chat,
    ok,
    processes_matching,
    propose,
    propose_steps,
    register,
    wait_run,
)
from tests.support.waits import eventually


async def test_three_step_plan_runs_to_done_with_messages(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(client)
    await register(client, "shop", url)
    run = await propose_steps(
        client, chat_id,
        [
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "7"}},
            {"service": "shop", "operation": "createOrder", "arguments": {"item": "{{steps.0.body.name}}", "qty": 2}},
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "{{steps.1.body.id}}"}},
        ],
    )  # fmt: skip
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "done", final
    assert [s["status"] for s in final["steps"]] == ["done", "done", "done"]
    assert all(s["attempts"] == 1 for s in final["steps"])
    assert final["steps"][1]["response"]["body"]["item"] == "item 7"
    order_id = final["steps"][1]["response"]["body"]["id"]
    assert final["steps"][2]["response"]["body"]["id"] == order_id
    assert final["finished_at"] is not None and final["started_at"] is not None
    # Each step carried its own stable Idempotency-Key.
    keys = {s["idempotency_key"] for s in final["steps"]}
    assert keys == {r["key"] for r in state.snapshot()["requests"]}
    msgs = await messages(client, chat_id)
    step_msgs = [
        m for m in msgs if m["run_id"] == run["id"] and (m.get("meta") or {}).get("kind") == "step"
    ]
    assert [m["meta"]["step"] for m in step_msgs] == [0, 1, 2]
    assert step_msgs[0]["content"].startswith("Step 1/3 shop · getItem: done (")
    assert "HTTP 200" in step_msgs[0]["content"]
    assert any(m["content"] == "Plan finished: 3 of 3 steps done." for m in msgs)
    st = await chat_state(client, chat_id)
    assert st["active_run_id"] is None
    assert st["last_run_id"] == run["id"] and st["last_run_status"] == "done"


async def test_stops_at_first_failure(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(client)
    await register(client, "shop", url)
    run = await propose_steps(
        client, chat_id,
        [
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "1"}},
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "missing"}},
            {"service": "shop", "operation": "createOrder", "arguments": {"item": "never"}},
        ],
    )  # fmt: skip
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "error"
    assert [s["status"] for s in final["steps"]] == ["done", "error", "pending"]
    # A 404 is not worth retrying, even for an idempotent GET.
    assert final["steps"][1]["attempts"] == 1
    assert "404" in final["steps"][1]["error"] and "no such item" in final["steps"][1]["error"]
    assert state.snapshot()["by_path"].get("POST /orders") is None
    msgs = await messages(client, chat_id)
    assert any(m["content"].startswith("Plan stopped with an error at step 2:") for m in msgs)
    assert (await chat_state(client, chat_id))["last_run_status"] == "error"


async def test_unresolvable_template_fails_the_step_clearly(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(client)
    await register(client, "shop", url)
    run = await propose_steps(
        client, chat_id,
        [
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "1"}},
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "{{steps.0.body.nope}}"}},
        ],
    )  # fmt: skip
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "error"
    assert final["steps"][1]["status"] == "error"
    assert "has no key “nope”" in final["steps"][1]["error"]
    assert final["steps"][1]["attempts"] == 0
    assert state.snapshot()["by_path"] == {"GET /items/1": 1}


async def test_idempotent_get_is_retried_until_it_succeeds(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(client)
    await register(client, "shop", url)
    run = await propose(client, chat_id, '/call shop flakyItem {"key": "k1", "fails": 2}')
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "done", final
    step = final["steps"][0]
    assert step["attempts"] == 3
    assert step["response"]["body"] == {"key": "k1", "hits": 3}
    # Every attempt carried the same Idempotency-Key.
    assert state.snapshot()["by_key"] == {step["idempotency_key"]: 3}
    retries = [
        m for m in await messages(client, chat_id) if (m.get("meta") or {}).get("kind") == "retry"
    ]
    assert [m["meta"]["attempt"] for m in retries] == [1, 2]
    assert "attempt 1 of 3" in retries[0]["content"]


async def test_retries_stop_after_the_projects_attempts(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, _ = counting
    _, chat_id = await new_chat(client, settings={"retry_attempts": 2})
    await register(client, "shop", url)
    run = await propose(client, chat_id, '/call shop flakyItem {"key": "k2", "fails": 5}')
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "error"
    assert final["steps"][0]["attempts"] == 2
    assert "503" in final["steps"][0]["error"]


async def test_non_idempotent_post_is_not_retried(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(client)
    await register(client, "shop", url)
    run = await propose(client, chat_id, '/call shop createOrder {"item": "x", "fail": true}')
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    # A 503 from a POST whose service does not honour Idempotency-Key: no second request.
    assert final["status"] == "error"
    assert final["steps"][0]["attempts"] == 1
    assert state.snapshot()["by_path"] == {"POST /orders": 1}
    assert not [
        m for m in await messages(client, chat_id) if (m.get("meta") or {}).get("kind") == "retry"
    ]


async def test_command_step_runs_on_the_toolbox(
    client: httpx.AsyncClient, toolbox_url: str
) -> None:
    _, chat_id = await new_chat(client)
    await register(client, "box", toolbox_url)
    run = await propose(client, chat_id, "/cmd box echo hello-from-runner")
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "done", final
    body = final["steps"][0]["response"]["body"]
    assert body["exit_code"] == 0 and body["stdout"].strip() == "hello-from-runner"
    assert final["steps"][0]["request_summary"] == "$ echo hello-from-runner"
    line = next(
        m for m in await messages(client, chat_id) if (m.get("meta") or {}).get("kind") == "step"
    )
    assert "exit 0" in line["content"] and "hello-from-runner" in line["content"]


async def test_cancel_a_running_command(client: httpx.AsyncClient, toolbox_url: str) -> None:
    _, chat_id = await new_chat(client)
    await register(client, "box", toolbox_url)
    marker = "sleep 31.4159"
    run = await propose(client, chat_id, f"/cmd box {marker}")
    await confirm(client, run)
    await wait_run(client, run["id"], frozenset({"running"}))
    # Wait until the command really runs, then cancel.
    await eventually(lambda: processes_matching(marker), "the command to start")
    ok(await client.post(f"/api/runs/{run['id']}/cancel"))
    final = await wait_run(client, run["id"])
    assert final["status"] == "cancelled"
    step = final["steps"][0]
    assert step["status"] == "error" and "cancelled while in flight" in step["error"]
    await eventually(lambda: not processes_matching(marker), "the cancelled command to be stopped")
    msgs = await messages(client, chat_id)
    assert any(m["content"].startswith("Plan cancelled; 0 of 1 steps had run.") for m in msgs)
    assert (await chat_state(client, chat_id))["last_run_status"] == "cancelled"
