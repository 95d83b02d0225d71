"""The copilot loop in the browser: the chat's model, export, and the loop's own lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, login, open_chat, send, shot, start_server
from piloto.llm.scripted import Reply, ScriptedLLM

pytestmark = pytest.mark.browser

# The endpoint lists only this one; the server's default (PILOTO_LLM_MODEL) is "scripted".
OTHER_MODEL = "qwen2.5-local"


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(model=OTHER_MODEL) as server:
        yield server


@pytest.fixture(scope="module")
def loop_server(llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(Path(tmp_path_factory.mktemp("piloto-loop")), llm_base_url=llm.base_url)
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def fresh_script(llm: ScriptedLLM) -> Iterator[None]:
    llm.reset()
    yield
    llm.reset()


def _plan(cmd: str, summary: str) -> Reply:
    plan = {
        "summary": summary,
        "steps": [{"service": "demo", "operation": "run_command", "arguments": {"cmd": cmd}}],
    }
    return Reply(tool_calls=[("mcp_request", json.dumps(plan))])


def _spanish(page: Any) -> None:
    """Make the UI Spanish before the app boots (the toggle would also re-language the chat)."""
    page.add_init_script("localStorage.setItem('piloto.lang', 'es')")


def _spanish_chat(server: Server, title: str, project: str = "Demo") -> dict[str, Any]:
    chat = server.new_chat(title, project)
    server.api.patch(f"/api/chats/{chat['id']}", json={"language": "es"}).raise_for_status()
    return dict(chat)


def test_the_chat_model_is_chosen_in_the_header_and_used(
    page: Any, llm: ScriptedLLM, loop_server: Server
) -> None:
    chat = loop_server.new_chat("Model per chat")
    login(page, loop_server)
    open_chat(page, chat)
    page.wait_for_selector("#model-select")
    options = page.eval_on_selector_all("#model-select option", "els => els.map(e => e.value)")
    assert options == ["scripted", OTHER_MODEL]
    assert page.input_value("#model-select") == "scripted"
    page.select_option("#model-select", OTHER_MODEL)
    page.wait_for_selector(f".toast:has-text('{OTHER_MODEL}')")
    stored = loop_server.api.get(f"/api/chats/{chat['id']}").json()
    assert stored["model"] == OTHER_MODEL
    llm.push(Reply(text="Answered by the local model."))
    send(page, "Which model are you?")
    page.wait_for_selector(".msg.assistant:has-text('Answered by the local model.')")
    assert llm.requests[-1]["model"] == OTHER_MODEL
    # Reloaded, the header still shows the chat's choice, not the default.
    page.reload()
    page.wait_for_selector("#model-select")
    assert page.input_value("#model-select") == OTHER_MODEL
    # On a phone the header still fits: nothing pushed out of reach sideways.
    page.set_viewport_size({"width": 390, "height": 760})
    page.wait_for_selector("#model-select")
    assert page.evaluate(
        "() => { const b = document.querySelector('.topbar'); return b.scrollWidth <= b.clientWidth; }"
    )
    shot(page, "chat-header-mobile")


def test_a_viewer_sees_the_model_but_cannot_change_it(new_page: Any, loop_server: Server) -> None:
    chat = loop_server.new_chat("Viewer looks")
    page = new_page()
    login(page, loop_server, loop_server.token("viewer"))
    open_chat(page, chat)
    page.wait_for_selector("#model-select")
    assert page.is_disabled("#model-select")


def test_export_downloads_markdown_and_json(
    page: Any, llm: ScriptedLLM, loop_server: Server
) -> None:
    chat = loop_server.new_chat("Export me")
    login(page, loop_server)
    open_chat(page, chat)
    llm.push(Reply(text="Disks are at **42 %**."))
    send(page, "How full are the disks?")
    page.wait_for_selector(".msg.assistant:has-text('Disks are at')")
    got = {}
    for fmt, label in (("md", "Markdown"), ("json", "JSON")):
        page.click("#export-chat")
        with page.expect_download() as info:
            page.click(f".menu .menu-item:has-text('{label}')")
        download = info.value
        assert download.suggested_filename == f"Export-me.{fmt}"
        got[fmt] = Path(download.path()).read_text(encoding="utf-8")
    assert "How full are the disks?" in got["md"] and "42 %" in got["md"]
    data = json.loads(got["json"])
    assert data["chat"]["title"] == "Export me"
    assert any("42 %" in m["content"] for m in data["messages"])


def test_the_loop_lines_read_spanish_and_look_distinct(
    page: Any, llm: ScriptedLLM, loop_server: Server
) -> None:
    chat = _spanish_chat(loop_server, "Bucle en español")
    _spanish(page)
    login(page, loop_server)
    open_chat(page, chat)
    page.wait_for_selector("#export-chat[aria-label='Exportar este chat']")
    # Direct mode: a plan from /cmd closes with a short deterministic summary.
    send(page, "/cmd demo echo hola")
    page.locator(".run-card[data-status='draft'] .js-confirm").click()
    page.wait_for_selector(".run-card[data-status='done']")
    summary = page.wait_for_selector(".msg.event.summary")
    assert "Resumen de la ejecución" in summary.text_content()
    # A plan the model proposed: after the run, its answer, marked as written on its own.
    llm.push(_plan("df -h /", "Ver el uso del disco"), Reply(text="El disco raíz está al 42 %."))
    send(page, "¿Cómo de lleno está el disco?")
    page.locator(".run-card[data-status='draft'] .js-confirm").click()
    answer = page.wait_for_selector(".msg.assistant.auto-turn:has-text('42 %')")
    assert "tras la ejecución" in answer.inner_text()
    proposed = page.locator(".run-card").nth(1).locator(".card-meta").first.text_content()
    assert "Propuesto por model:scripted · para admin" in proposed and " for " not in proposed
    # A stream cut mid-answer: the partial text, marked incomplete, then the model error.
    llm.push(Reply(text="El uso de memoria es del", fault="cut"))
    send(page, "¿Y la memoria?")
    cut = page.wait_for_selector(".msg.assistant.incomplete")
    assert "incompleta" in cut.inner_text()
    error = page.wait_for_selector(".msg.event.error[data-kind='model_error']")
    assert "Error del modelo" in error.text_content()
    page.wait_for_selector("#thinking", state="hidden")
    page.set_viewport_size({"width": 1280, "height": 1500})
    summary.scroll_into_view_if_needed()
    shot(page, "loop-kinds-es")
    for label in ("Run summary", "after the run", "incomplete", "Model error", "Export"):
        assert label not in page.text_content("#main"), label


def test_the_loop_bound_is_a_line_of_its_own(
    page: Any, llm: ScriptedLLM, loop_server: Server
) -> None:
    demo = f"/api/projects/{loop_server.project_id()}"
    loop_server.api.patch(demo, json={"settings": {"auto_approve_reads": True}}).raise_for_status()
    try:
        _loop_until_the_bound(page, llm, loop_server)
    finally:
        off = {"settings": {"auto_approve_reads": False}}
        loop_server.api.patch(demo, json=off).raise_for_status()


def _loop_until_the_bound(page: Any, llm: ScriptedLLM, loop_server: Server) -> None:
    chat = loop_server.new_chat("Endless")
    # A model that always wants one more look: read-only plans, approved by the project's policy
    # (commands never are, so the look is the demo's system_info).
    again = {
        "summary": "Look again",
        "steps": [{"service": "demo", "operation": "system_info", "arguments": {}}],
    }
    llm.responder(lambda body: Reply(tool_calls=[("mcp_request", json.dumps(again))]))
    login(page, loop_server)
    open_chat(page, chat)
    send(page, "Watch the load")
    limit = page.wait_for_selector(".msg.event.loop-limit", timeout=60_000)
    assert "Automatic turns stopped" in limit.text_content()
    # The bound stops the loop: the first turn and three automatic ones (the default bound).
    assert len(llm.requests) == 4
    assert page.locator(".run-card").count() == 4
    limit.scroll_into_view_if_needed()
    shot(page, "loop-limit")
