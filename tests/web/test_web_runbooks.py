"""Runbooks in the UI: a finished run saved as a runbook, started from the sidebar with a
parameter, and proposed as a draft card in the chat; a viewer sees no Start button."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Server, login, open_chat, poll, send, shot

pytestmark = pytest.mark.browser


def test_save_a_run_as_a_runbook_and_start_it_with_a_parameter(page: Any, server: Server) -> None:
    chat = server.new_chat("runbooks view")
    login(page, server)
    open_chat(page, chat)
    send(page, "/cmd demo echo hello")
    page.wait_for_selector(".run-card[data-status='draft'] .js-confirm")
    page.locator(".run-card[data-status='draft'] .js-confirm").click()
    page.wait_for_selector(".run-card[data-status='done'] .js-save-runbook", timeout=20_000)

    page.locator(".run-card[data-status='done'] .js-save-runbook").click()
    page.fill("dialog[open] #prompt-input", "say-word")
    page.press("dialog[open] #prompt-input", "Enter")
    page.wait_for_selector("#runbook-list .runbook-item:has-text('say-word')")
    [runbook] = [
        r
        for r in server.api.get("/api/runbooks", params={"project_id": chat["project_id"]}).json()
        if r["name"] == "say-word"
    ]
    assert runbook["steps"][0]["arguments"] == {"cmd": "echo hello"}

    # Give it a parameter (the API's job), then start it from the sidebar with a value.
    resp = server.api.patch(
        f"/api/runbooks/{runbook['id']}",
        json={
            "steps": [{**runbook["steps"][0], "arguments": {"cmd": "echo {{word}}"}}],
            "summary": "Say a word",
            "parameters": {"word": {"default": "hello", "description": "What to say"}},
        },
    )
    resp.raise_for_status()
    # A schedule (yearly, so it never fires during the test) shows its state and next run.
    yearly = {"runbook_id": runbook["id"], "chat_id": chat["id"], "cron": "0 3 1 1 *"}
    sched = server.api.post("/api/schedules", json=yearly)
    assert sched.status_code == 201, sched.text
    page.reload()
    page.wait_for_selector("#app", state="visible")
    start = f"#runbook-list [data-runbook-id='{runbook['id']}'] .js-start-runbook"
    page.wait_for_selector(start)
    row = page.inner_text(f"#schedule-list [data-schedule-id='{sched.json()['id']}']")
    assert "0 3 1 1 *" in row and "active" in row and "next" in row
    page.click(start)
    field = "dialog[open] input[data-param='word']"
    page.wait_for_selector(field)
    assert page.input_value(field) == "hello"  # the default, prefilled
    assert "What to say" in page.inner_text("dialog[open]")
    assert page.input_value("dialog[open] #rb-chat") == chat["id"]  # the current chat
    page.fill(field, "piloto")
    shot(page, "runbook-start")
    page.click("dialog[open] #rb-start-submit")
    page.wait_for_selector("dialog[open]", state="detached")
    card = ".run-card[data-status='draft']"
    page.wait_for_selector(card)
    poll(page, f"document.querySelector(\"{card} code.args\")?.textContent === '$ echo piloto'")
    assert "say-word" in page.inner_text(f"{card} .card-summary")
    shot(page, "runbook-draft")


def test_a_smuggled_parameter_is_refused_in_the_dialog(page: Any, server: Server) -> None:
    chat = server.new_chat("runbooks refused")
    body = {
        "project_id": chat["project_id"],
        "name": "echo-word",
        "summary": "Say a word",
        "steps": [
            {"service": "demo", "operation": "run_command",
             "arguments": {"cmd": "echo {{word}}"}}
        ],
        "parameters": {"word": {"default": "hi"}},
    }  # fmt: skip
    resp = server.api.post("/api/runbooks", json=body)
    assert resp.status_code == 201, resp.text
    login(page, server)
    open_chat(page, chat)
    start = f"#runbook-list [data-runbook-id='{resp.json()['id']}'] .js-start-runbook"
    page.click(start)
    # An emptied field means the default, not an empty word.
    page.fill("dialog[open] input[data-param='word']", "")
    page.click("dialog[open] #rb-start-submit")
    page.wait_for_selector("dialog[open]", state="detached")
    page.wait_for_selector(".run-card[data-status='draft'] code.args:has-text('echo hi')")
    page.click(start)
    page.fill("dialog[open] input[data-param='word']", "hi; reboot")
    page.click("dialog[open] #rb-start-submit")
    page.wait_for_selector("dialog[open] .form-error:not([hidden])")
    assert "plain word" in page.inner_text("dialog[open] .form-error")
    # The refused value proposed nothing: the draft pending is still the default's.
    state = server.api.get(f"/api/chats/{chat['id']}").json()["state"]
    pending = server.api.get(f"/api/runs/{state['pending_run_id']}").json()
    assert pending["steps"][0]["arguments"] == {"cmd": "echo hi"}


def test_a_viewer_sees_runbooks_without_a_start_button(page: Any, server: Server) -> None:
    chat = server.new_chat("runbooks viewer")
    body = {
        "project_id": chat["project_id"], "name": "viewer-sees-this", "summary": "Host name",
        "steps": [{"service": "demo", "operation": "run_command", "arguments": {"cmd": "hostname"}}],
    }  # fmt: skip
    resp = server.api.post("/api/runbooks", json=body)
    assert resp.status_code == 201, resp.text
    login(page, server, token=server.token("viewer"))
    open_chat(page, chat)
    page.wait_for_selector(f"#runbook-list [data-runbook-id='{resp.json()['id']}']")
    assert page.locator("#runbook-list .js-start-runbook").count() == 0


def test_hostile_runbook_text_stays_text_and_spanish_is_spoken(page: Any, server: Server) -> None:
    chat = server.new_chat("runbooks hostile")
    hostile = '<img src=x onerror="document.title=1">'
    body = {
        "project_id": chat["project_id"], "name": f"x{hostile}", "summary": f"**b** {hostile}",
        "steps": [{"service": "demo", "operation": "run_command", "arguments": {"cmd": "hostname"}}],
        "parameters": {"p": {"default": "v", "description": hostile}},
    }  # fmt: skip
    resp = server.api.post("/api/runbooks", json=body)
    assert resp.status_code == 201, resp.text
    row = f"#runbook-list [data-runbook-id='{resp.json()['id']}']"
    login(page, server)
    open_chat(page, chat)
    page.wait_for_selector(row)
    assert hostile in page.inner_text(row)
    page.click(f"{row} .js-start-runbook")
    page.wait_for_selector("dialog[open] input[data-param='p']")
    assert hostile in page.inner_text("dialog[open]")
    assert page.locator("dialog[open] img, #sidebar img").count() == 0
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog[open]", state="detached")
    page.click("#sidebar .lang-switch .seg[data-lang='es']")
    try:
        page.wait_for_selector("#runbooks-section .nav-title:has-text('Runbooks')")
        assert page.get_attribute(f"{row} .js-start-runbook", "aria-label", timeout=5000) == (
            f"Iniciar x{hostile}"
        )
    finally:
        page.click("#sidebar .lang-switch .seg[data-lang='en']")
    assert page.title() != "1"
