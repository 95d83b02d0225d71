"""The copilot loop end to end: a plan's result goes back to the model as its tool call's answer.

The real app with its runner, the real toolbox, and the scripted OpenAI-compatible server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tests.chat.conftest import until
from tests.support.world import World

from piloto.chat.outcome import TOOL_MARK
from piloto.llm.scripted import Reply, ScriptedLLM
from piloto.settings import Settings


def plan(cmd: str, summary: str = "Check the disks") -> str:
    return json.dumps(
        {
            "summary": summary,
            "steps": [{"service": "box", "operation": "run_command", "arguments": {"cmd": cmd}}],
        }
    )


def roles(request: dict[str, Any]) -> list[str]:
    return [m["role"] for m in request["messages"]]


def quote_df(request: dict[str, Any]) -> Reply:
    """A model that answers a tool message by quoting a value from it."""
    tool = [m for m in request["messages"] if m["role"] == "tool"]
    if not tool:
        return Reply(text="(no tool result)")
    usage = re.findall(r"\s(\d{1,3}%)\s", tool[-1]["content"])
    return Reply(text=f"The fullest filesystem is at {max(usage, key=lambda u: int(u[:-1]))}.")


async def answered(world: World, needle: str) -> Callable[[], Any]:
    async def check() -> Any:
        msgs = await world.messages()
        return [m for m in msgs if m["role"] == "assistant" and needle in m["content"]]

    return check


async def test_disk_question_closes_the_loop(loop_world: World, llm: ScriptedLLM) -> None:
    world = loop_world
    llm.push(Reply(text="Let me check.", tool_calls=[("mcp_request", plan("df -h"))]))
    llm.responder(quote_df)
    run = (await world.send("how full are the disks?")).json()["run"]
    assert run["status"] == "draft"
    assert (await world.send("yes")).status_code == 200
    answer = (await until(await answered(world, "fullest filesystem"), what="the answer")).pop()

    assert len(llm.requests) == 2
    second = llm.requests[1]
    # Exactly: the system prompt, the question, the model's tool call, and its result.
    assert roles(second) == ["system", "user", "assistant", "tool"]
    user, call, result = second["messages"][1:]
    assert user["content"] == "how full are the disks?"
    assert call["content"] == "Let me check."
    [tc] = call["tool_calls"]
    assert tc["function"]["name"] == "mcp_request"
    assert json.loads(tc["function"]["arguments"])["steps"][0]["arguments"] == {"cmd": "df -h"}
    assert result["tool_call_id"] == tc["id"]
    assert result["content"].startswith(TOOL_MARK)
    assert "Filesystem" in result["content"] and "exit code 0" in result["content"]
    assert re.search(r"\d+%", answer["content"])
    assert answer["meta"] == {"auto_turn": 1}
    # The answer lands after the run's lines, with no message from the person in between.
    msgs = await world.messages()
    run_lines = [m["seq"] for m in msgs if m.get("run_id") == run["id"]]
    assert answer["seq"] > max(run_lines)
    assert [m for m in msgs if m["role"] == "user" and m["seq"] > max(run_lines)] == []


async def test_follow_up_plan_waits_for_consent(loop_world: World, llm: ScriptedLLM) -> None:
    world = loop_world
    llm.push(
        Reply(tool_calls=[("mcp_request", plan("df -h"))]),
        Reply(
            text="Let me also look at the biggest directories.",
            tool_calls=[("mcp_request", plan("du -sh .", "Sizes"))],
        ),
    )
    first = (await world.send("how full are the disks?")).json()["run"]
    await world.send("yes")

    async def second_draft() -> Any:
        state = await world.state()
        pending = state["pending_run_id"]
        return pending if pending and pending != first["id"] else None

    pending = await until(second_draft, what="a follow-up draft")
    follow = (await world.client.get(f"/api/runs/{pending}")).json()
    assert follow["status"] == "draft"
    assert follow["steps"][0]["arguments"] == {"cmd": "du -sh ."}
    # It waits: nothing more is asked of the model and nothing runs until a person confirms.
    await world.client.app.state.followups.wait_idle()  # type: ignore[attr-defined]
    assert len(llm.requests) == 2
    assert (await world.client.get(f"/api/runs/{pending}")).json()["status"] == "draft"


async def test_automatic_turns_are_bounded(
    loop_settings: Settings, open_world: Any, llm: ScriptedLLM
) -> None:
    settings = loop_settings.model_copy(update={"llm_max_auto_turns": 1})
    async with open_world(settings) as world:
        llm.push(
            Reply(tool_calls=[("mcp_request", plan("echo one"))]),
            Reply(tool_calls=[("mcp_request", plan("echo two"))]),
        )
        await world.send("count for me")
        await world.send("yes")

        async def pending_second() -> Any:
            return (await world.state())["pending_run_id"]

        await until(pending_second, what="the second plan")
        await world.send("yes")

        async def limit_line() -> Any:
            msgs = await world.messages()
            return [m for m in msgs if (m.get("meta") or {}).get("kind") == "loop_limit"]

        [line] = await until(limit_line, what="the loop's limit line")
        assert "1 automatic turns" in line["content"]
        assert "PILOTO_LLM_MAX_AUTO_TURNS" in line["content"]
        assert len(llm.requests) == 2  # the third turn was never asked for


async def test_direct_plan_closes_with_a_summary_and_no_model_call(
    loop_world: World, llm: ScriptedLLM
) -> None:
    world = loop_world
    run = (await world.send("/cmd box printf 'a\\nb\\nc\\n'")).json()["run"]
    assert run["status"] == "draft"
    await world.send("yes")

    async def summary() -> Any:
        msgs = await world.messages()
        return [m for m in msgs if (m.get("meta") or {}).get("kind") == "summary"]

    [line] = await until(summary, what="the direct-mode summary")
    assert line["run_id"] == run["id"]
    assert line["content"].startswith("Step 1: exit code 0")
    assert "a\nb\nc" in line["content"]
    await world.client.app.state.followups.wait_idle()  # type: ignore[attr-defined]
    assert llm.requests == []


async def test_model_error_in_follow_up_is_a_message(loop_world: World, llm: ScriptedLLM) -> None:
    world = loop_world
    llm.push(Reply(tool_calls=[("mcp_request", plan("echo hi"))]), Reply(status=500))
    run = (await world.send("say hi")).json()["run"]
    await world.send("yes")

    async def model_error() -> Any:
        msgs = await world.messages()
        return [m for m in msgs if (m.get("meta") or {}).get("kind") == "model_error"]

    [err] = await until(model_error, what="the model error")
    assert "(500)" in err["content"]
    assert (await world.client.get(f"/api/runs/{run['id']}")).json()["status"] == "done"
    # The runner is unharmed: the next plan runs.
    llm.push(Reply(tool_calls=[("mcp_request", plan("echo again"))]), Reply(text="Done again."))
    again = (await world.send("once more")).json()["run"]
    await world.send("yes")
    await until(await answered(world, "Done again."), what="the second answer")
    assert (await world.client.get(f"/api/runs/{again['id']}")).json()["status"] == "done"


async def test_cancelled_run_gets_words_not_a_new_plan(loop_world: World, llm: ScriptedLLM) -> None:
    world = loop_world
    llm.push(
        Reply(tool_calls=[("mcp_request", plan("sleep 30"))]),
        Reply(text="Stopped as you asked.", tool_calls=[("mcp_request", plan("sleep 30"))]),
    )
    run = (await world.send("wait a while")).json()["run"]
    await world.send("yes")

    async def running() -> Any:
        r = (await world.client.get(f"/api/runs/{run['id']}")).json()
        return r["status"] == "running" and r["steps"][0]["status"] == "running"

    await until(running, what="the step in flight")
    assert (await world.client.post(f"/api/runs/{run['id']}/cancel")).status_code == 200
    await until(await answered(world, "Stopped as you asked."), what="the answer")
    await world.client.app.state.followups.wait_idle()  # type: ignore[attr-defined]
    assert (await world.state())["pending_run_id"] is None
    # The abandoned step's line says how long it was in flight, not "0 ms".
    msgs = await world.messages()
    [step_line] = [m for m in msgs if (m.get("meta") or {}).get("kind") == "step"]
    assert re.search(r": error \((\d+ ms|\d+\.\d s)\)", step_line["content"]), step_line
    assert "(0 ms)" not in step_line["content"]
    follow_up = llm.requests[-1]
    assert "do not propose a plan" in follow_up["messages"][0]["content"]
    assert "cancelled" in follow_up["messages"][-1]["content"]


async def test_a_new_message_supersedes_the_follow_up(loop_world: World, llm: ScriptedLLM) -> None:
    world = loop_world
    llm.push(
        Reply(tool_calls=[("mcp_request", plan("echo hi"))]),
        Reply(text="Late answer about the run.", delay_s=3.0),
        Reply(text="It is noon."),
    )
    await world.send("say hi")
    await world.send("yes")

    async def follow_up_asked() -> bool:
        return len(llm.requests) >= 2

    await until(follow_up_asked, what="the follow-up request")
    # The person moves on while the model is still answering the run's result.
    body = (await world.send("what time is it?")).json()
    assert body["reply"]["content"] == "It is noon."
    await world.client.app.state.followups.wait_idle()  # type: ignore[attr-defined]
    contents = [m["content"] for m in await world.messages()]
    assert "Late answer about the run." not in contents
    assert contents[-1] == "It is noon."


async def test_auto_approved_reads_loop_only_up_to_the_bound(
    loop_world: World, llm: ScriptedLLM
) -> None:
    world = loop_world
    resp = await world.client.patch(
        f"/api/projects/{world.project_id}", json={"settings": {"auto_approve_reads": True}}
    )
    assert resp.status_code == 200, resp.text
    read_plan = json.dumps(
        {
            "summary": "Look",
            "steps": [{"service": "box", "operation": "system_info", "arguments": {}}],
        }
    )
    # A model that always wants one more look: only the bound stops it.
    llm.responder(lambda _: Reply(tool_calls=[("mcp_request", read_plan)]))
    first = (await world.send("look at the host")).json()["run"]
    assert first["status"] == "queued"  # auto-approved: a read the project opted into

    async def limit_line() -> Any:
        msgs = await world.messages()
        return [m for m in msgs if (m.get("meta") or {}).get("kind") == "loop_limit"]

    await until(limit_line, what="the loop's limit line")
    await world.client.app.state.followups.wait_idle()  # type: ignore[attr-defined]
    assert len(llm.requests) == 1 + 3  # the person's turn and PILOTO_LLM_MAX_AUTO_TURNS more
    runs = [m for m in await world.messages() if (m.get("meta") or {}).get("kind") == "plan"]
    assert len(runs) == 4


async def test_a_runs_follow_up_is_answered_once(loop_world: World, llm: ScriptedLLM) -> None:
    from piloto.chat.followup import after_run

    world = loop_world
    llm.push(Reply(tool_calls=[("mcp_request", plan("echo once"))]), Reply(text="Once."))
    run = (await world.send("once")).json()["run"]
    await world.send("yes")
    await until(await answered(world, "Once."), what="the answer")
    app = world.client.app  # type: ignore[attr-defined]
    await app.state.followups.wait_idle()
    # Another instance (or a duplicate notice) asking again finds it claimed.
    await after_run(app.state.chat, run["id"])
    await after_run(app.state.chat, run["id"])
    assert len(llm.requests) == 2
    assert [m["content"] for m in await world.messages()].count("Once.") == 1


async def test_a_restart_answers_a_run_that_ended_unanswered(
    loop_world: World, llm: ScriptedLLM
) -> None:
    from sqlalchemy import update

    from piloto.store.schema import plan_calls

    world = loop_world
    llm.push(Reply(tool_calls=[("mcp_request", plan("echo hi"))]), Reply(text="First."))
    run = (await world.send("say hi")).json()["run"]
    await world.send("yes")
    await until(await answered(world, "First."), what="the answer")
    app = world.client.app  # type: ignore[attr-defined]
    await app.state.followups.wait_idle()
    # As if the instance had died between the run's end and its follow-up.
    async with app.state.db.write() as conn:
        await conn.execute(
            update(plan_calls).where(plan_calls.c.run_id == run["id"]).values(followup="pending")
        )
    llm.push(Reply(text="Answered after the restart."))
    assert await app.state.followups.sweep() == [run["id"]]
    await until(await answered(world, "Answered after the restart."), what="the late answer")
    assert await app.state.followups.sweep() == []  # claimed: never twice
