"""The chat: projects and chats, plans, live runs, double clicks, reloads, hostile output."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import Server, login, open_chat, send, shot

pytestmark = pytest.mark.browser


def _confirm_and_wait_done(page: Any, timeout: float = 20_000) -> str:
    page.wait_for_selector(".run-card[data-status='draft'] .js-confirm")
    page.locator(".run-card[data-status='draft'] .js-confirm").click()
    done = page.wait_for_selector(".run-card[data-status='done']", timeout=timeout)
    return str(done.get_attribute("data-run-id"))


def test_create_project_and_chat_then_run_a_command_live(page: Any, server: Server) -> None:
    login(page, server)
    # A project, through the modal.
    page.click("#new-project")
    page.fill("#prompt-input", "Staging")
    page.press("#prompt-input", "Enter")
    page.wait_for_selector(".project.open .project-item:has-text('Staging')")
    assert any(p["name"] == "Staging" for p in server.api.get("/api/projects").json())
    # A chat in the Demo project (where the demo toolbox lives).
    page.click(".project-item:has-text('Demo')")
    page.wait_for_selector(".project.open .project-item:has-text('Demo')")
    page.wait_for_selector(".service-item[data-status='online']:has-text('demo')")
    page.click("#new-chat")
    page.fill("#prompt-input", "Check the host")
    page.press("#prompt-input", "Enter")
    page.wait_for_selector("#crumb-chat:has-text('Check the host')")
    page.wait_for_selector("#conn[data-status='live']")
    newest = server.api.get(f"/api/projects/{server.project_id()}/chats").json()[0]
    assert newest["title"] == "Check the host"

    send(page, "/cmd demo uname -a")
    page.wait_for_selector(".run-card[data-status='draft']")
    assert page.inner_text(".run-card .steps-table").count("run_command") == 1
    assert "uname -a" in page.inner_text(".run-card .steps-table")
    assert page.is_visible(".run-card .risk-read")
    shot(page, "chat-plan-card")

    # Record every status the card shows, to prove the progress is live.
    page.evaluate(
        """() => { window.__seen = new Set(); new MutationObserver(() => document.querySelectorAll('.run-card').forEach(
             c => window.__seen.add(c.dataset.status))).observe(document.getElementById('timeline'), {subtree: true, childList: true, attributes: true}); }"""
    )
    run_id = _confirm_and_wait_done(page)
    seen = page.evaluate("[...window.__seen]")
    assert "done" in seen and ({"queued", "running"} & set(seen)), seen
    out = page.inner_text(f".run-card[data-run-id='{run_id}'] pre.out")
    assert "Linux" in out
    assert page.is_visible(f".run-card[data-run-id='{run_id}'] .st-done .duration")
    assert page.is_visible(".final-summary.st-done")
    shot(page, "run-card-done")


def test_double_click_on_confirm_runs_once(page: Any, server: Server) -> None:
    chat = server.new_chat("Double click")
    login(page, server)
    open_chat(page, chat)
    send(page, "/cmd demo echo once")
    page.wait_for_selector(".run-card[data-status='draft'] .js-confirm")
    run_id = page.get_attribute(".run-card[data-status='draft']", "data-run-id")
    button = page.locator(f".run-card[data-run-id='{run_id}'] .js-confirm")
    confirms: list[int] = []
    page.on(
        "response",
        lambda r: confirms.append(r.status) if r.url.endswith(f"/runs/{run_id}/confirm") else None,
    )
    button.dblclick()
    page.wait_for_selector(f".run-card[data-run-id='{run_id}'][data-status='done']")
    run = server.api.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "done"
    assert [s["attempts"] for s in run["steps"]] == [1]
    assert confirms == [200]
    msgs = server.api.get(f"/api/chats/{chat['id']}/messages").json()
    assert sum(1 for m in msgs if m["content"].startswith("Confirmed by")) == 1
    assert len(server.api.get(f"/api/chats/{chat['id']}/runs").json()) == 1

    # Two tabs racing on the same draft: the server confirms exactly once.
    draft = server.api.post(
        "/api/send", json={"chat_id": chat["id"], "text": "/cmd demo echo race"}
    ).json()["run"]
    statuses = page.evaluate(
        """([id, hash]) => { const csrf = document.cookie.match(/piloto_csrf=([^;]+)/)[1];
             const go = () => fetch(`/api/runs/${id}/confirm`, {method: 'POST', headers: {'Content-Type': 'application/json',
               'X-CSRF-Token': csrf}, body: JSON.stringify({plan_hash: hash})}).then(r => r.status);
             return Promise.all([go(), go(), go()]); }""",
        [draft["id"], draft["plan_hash"]],
    )
    assert sorted(statuses) == [200, 409, 409]
    page.wait_for_selector(f".run-card[data-run-id='{draft['id']}'][data-status='done']")
    assert [s["attempts"] for s in server.api.get(f"/api/runs/{draft['id']}").json()["steps"]] == [
        1
    ]


def test_reload_mid_run_shows_the_run_and_follows_it(page: Any, server: Server) -> None:
    chat = server.new_chat("Slow one")
    login(page, server)
    open_chat(page, chat)
    send(page, "/cmd demo sleep 3 && echo done")
    page.locator(".run-card[data-status='draft'] .js-confirm").click()
    page.wait_for_selector(".run-card[data-status='running']")
    page.reload()
    card = page.wait_for_selector(
        ".run-card[data-status='running'], .run-card[data-status='queued']"
    )
    assert card.query_selector(".running-note") is not None
    assert page.is_visible(".step.st-running .spinner")
    page.wait_for_selector(".run-card[data-status='done']", timeout=20_000)
    assert "done" in page.inner_text(".run-card pre.out")


def test_hostile_output_and_links_stay_inert(page: Any, server: Server) -> None:
    chat = server.new_chat("Hostile")
    login(page, server)
    open_chat(page, chat)
    send(
        page,
        "/cmd demo echo '<img src=x onerror=window.__xss=1>' '<script>window.__xss=2</script>'",
    )
    _confirm_and_wait_done(page)
    out = page.inner_text(".run-card pre.out")
    assert "<img src=x onerror=window.__xss=1>" in out and "<script>" in out
    send(page, "[x](javascript:alert(1)) and <img src=x onerror=window.__xss=3> **bold**")
    page.wait_for_selector(".msg.user strong:has-text('bold')")
    page.wait_for_selector(".msg.event")  # the direct-mode hint: the turn is over
    # No waiting for a handler that might fire: the checks below prove no element that could
    # run code (an <img>, an inline script, an on* attribute) was ever created.
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('[onerror], script:not([src])').length") == 0
    hrefs = page.evaluate(
        "[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"
    )
    assert not [h for h in hrefs if re.match(r"\s*javascript:", h, re.I)], hrefs
    assert "<img src=x onerror=window.__xss=3>" in page.inner_text(".msg.user .bubble >> nth=-1")


def test_edit_a_plan_proposes_a_new_draft(page: Any, server: Server) -> None:
    chat = server.new_chat("Edit me")
    login(page, server)
    open_chat(page, chat)
    send(page, "/cmd demo echo first")
    old = page.wait_for_selector(".run-card[data-status='draft']").get_attribute("data-run-id")
    page.locator(".run-card[data-status='draft'] .js-edit").click()
    area = page.wait_for_selector("dialog[open] textarea.args-edit")
    area.fill('{"cmd": "echo edited"}')
    page.click("dialog[open] .btn.primary")
    page.wait_for_selector(f".run-card[data-run-id='{old}'][data-status='superseded']")
    assert page.query_selector(f".run-card[data-run-id='{old}'] .js-confirm") is None
    page.wait_for_selector(".run-card[data-status='draft']:has-text('echo edited')")
    page.locator(".run-card[data-status='draft'] .js-confirm").click()
    page.wait_for_selector(".run-card[data-status='done']")
    assert "edited" in page.inner_text(".run-card[data-status='done'] pre.out")
