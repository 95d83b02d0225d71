"""With a model: the scripted OpenAI-compatible server proposes the plan; text streams in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, login, open_chat, send, shot, start_server
from piloto.llm.scripted import Reply, ScriptedLLM

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture(scope="module")
def llm_server(llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(Path(tmp_path_factory.mktemp("piloto-llm")), llm_base_url=llm.base_url)
    yield srv
    srv.stop()


def test_model_proposes_a_plan_that_runs_after_confirmation(
    page: Any, llm: ScriptedLLM, llm_server: Server
) -> None:
    plan = {
        "summary": "Show the kernel version",
        "steps": [
            {"service": "demo", "operation": "run_command", "arguments": {"cmd": "uname -s"}}
        ],
    }
    thinking = "Let me look at the kernel of this machine with uname; I will propose a plan for you to confirm."
    llm.push(
        Reply(
            text=thinking,
            tool_calls=[("mcp_request", json.dumps(plan))],
            chunk_chars=6,
            chunk_delay_s=0.06,
        ),
        # The copilot loop: the run's result goes back to the model, which answers.
        Reply(text="This host runs Linux."),
    )
    chat = llm_server.new_chat("With a model")
    login(page, llm_server)
    open_chat(page, chat)
    send(page, "Which kernel is this host running?")
    # While the model works: "Thinking…", and its words stream in from `typing` events.
    page.wait_for_selector("#thinking:not([hidden])")
    assert page.is_disabled("#composer-input")
    page.wait_for_selector("#thinking .typing-text:has-text('Let me look')")
    page.wait_for_selector(".run-card[data-status='draft']")
    page.wait_for_selector("#thinking", state="hidden")
    assert page.is_enabled("#composer-input")
    assert "Show the kernel version" in page.inner_text(".run-card .card-summary")
    assert "model:" in page.inner_text(".run-card .card-meta")
    page.wait_for_selector(".msg.assistant:has-text('Let me look at the kernel')")
    page.locator(".run-card[data-status='draft'] .js-confirm").click()
    page.wait_for_selector(".run-card[data-status='done']", timeout=20_000)
    assert "Linux" in page.inner_text(".run-card pre.out")
    # After the run, the model's answer (no message from the person in between).
    page.wait_for_selector(".msg.assistant:has-text('This host runs Linux.')", timeout=20_000)
    shot(page, "chat-with-model")
    # Asked twice: for the plan, then with its result; confirming was the button's, not the model's.
    assert len(llm.requests) == 2
    assert llm.requests[1]["messages"][-1]["role"] == "tool"


def test_model_failure_is_explained_and_nothing_is_lost(
    page: Any, llm: ScriptedLLM, llm_server: Server
) -> None:
    llm.push(Reply(status=500), Reply(status=500), Reply(status=500), Reply(status=500))
    chat = llm_server.new_chat("Model down")
    login(page, llm_server)
    open_chat(page, chat)
    send(page, "Is the disk full?")
    page.wait_for_selector(".msg.user:has-text('Is the disk full?')")
    page.wait_for_selector(".msg.event.error", timeout=30_000)
    assert page.is_enabled("#composer-input")
    llm.reset()
