"""Consent in the browser: two people approving on the card, the risk and its reason, a
look-alike warning, and the project settings only an admin sees."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Server, login, open_chat, send, shot

pytestmark = pytest.mark.browser


def _set_demo_settings(server: Server, **settings: Any) -> None:
    r = server.api.patch(f"/api/projects/{server.project_id()}", json={"settings": settings})
    r.raise_for_status()


def test_two_people_approve_on_the_card(new_page: Any, server: Server) -> None:
    _set_demo_settings(server, required_approvals={"read": 2})
    try:
        chat = server.new_chat("Two people")
        run = server.api.post(
            "/api/send", json={"chat_id": chat["id"], "text": "/cmd demo uname -a"}
        ).json()["run"]
        assert run["approvals_required"] == 2
        admin = new_page()
        login(admin, server)
        open_chat(admin, chat)
        card = f".run-card[data-run-id='{run['id']}']"
        admin.wait_for_selector(f"{card} .approvals[data-approvals='0'][data-required='2']")
        assert "0 of 2 approvals" in admin.inner_text(f"{card} .approvals")
        button = admin.locator(f"{card} .js-confirm")
        assert button.inner_text().strip() == "Approve"
        button.click()
        admin.wait_for_selector(f"{card} .approvals[data-approvals='1']")
        assert "1 of 2 approvals" in admin.inner_text(f"{card} .approvals")
        assert "admin" in admin.inner_text(f"{card} .approvals")
        assert admin.get_attribute(card, "data-status") == "draft"
        # The same person again: a clear answer, the plan still waits.
        admin.wait_for_selector(f"{card} .js-confirm:not([disabled])")
        admin.locator(f"{card} .js-confirm").click()
        admin.wait_for_selector(".toast:has-text('already approved')")
        assert server.api.get(f"/api/runs/{run['id']}").json()["status"] == "draft"
        shot(admin, "plan-card-one-of-two")

        operator = new_page()
        login(operator, server, server.token("operator", "luis"))
        open_chat(operator, chat)
        operator.wait_for_selector(f"{card} .approvals[data-approvals='1']")
        operator.locator(f"{card} .js-confirm").click()
        operator.wait_for_selector(f"{card}[data-status='done']", timeout=20_000)
        admin.wait_for_selector(f"{card}[data-status='done']", timeout=20_000)
        final = server.api.get(f"/api/runs/{run['id']}").json()
        assert [a["by"] for a in final["approvals"]][1] == "luis"
    finally:
        _set_demo_settings(server, required_approvals={})


def test_the_card_shows_risk_reasons_and_lookalikes(page: Any, server: Server) -> None:
    chat = server.new_chat("Look-alikes")
    login(page, server)
    open_chat(page, chat)
    send(page, "/cmd demo cat /\u0435tc/hostname")
    card = page.wait_for_selector(".run-card[data-status='draft']")
    warning = page.inner_text(".run-card[data-status='draft'] .step-warning")
    assert "U+0435" in warning and "CYRILLIC" in warning
    assert page.inner_text(".run-card[data-status='draft'] .risk-reason").startswith("Why: ")
    assert card.query_selector(".card-head .badge.risk-read") is not None
    shot(page, "plan-card-lookalike")


def test_admin_edits_project_settings(new_page: Any, server: Server) -> None:
    pid = server.api.post("/api/projects", json={"name": "Policy"}).json()["id"]
    page = new_page()
    login(page, server)
    page.click(".project-item:has-text('Policy')")
    page.locator(".project.open .nav-row .menu-btn").first.click()
    page.click(".menu-item:has-text('Settings')")
    page.wait_for_selector("dialog[open] .project-settings")
    page.fill("#ps-allowlist", "ls\ncat, df")
    page.check("#ps-auto")
    page.fill("#ps-approvals-destructive", "11")
    page.click("dialog[open] .btn.primary")
    assert "1 to 10" in page.inner_text("dialog[open] .form-error")
    page.fill("#ps-approvals-destructive", "2")
    page.click("dialog[open] .btn.primary")
    page.wait_for_selector("dialog[open]", state="detached")
    page.wait_for_selector(".toast:has-text('Settings saved')")
    settings = server.api.get(f"/api/projects/{pid}").json()["settings"]
    assert settings["command_allowlist"] == ["ls", "cat", "df"]
    assert settings["auto_approve_reads"] is True
    assert settings["required_approvals"] == {"destructive": 2}
    # Reopened, it shows what is stored.
    page.locator(".project.open .nav-row .menu-btn").first.click()
    page.click(".menu-item:has-text('Settings')")
    assert page.input_value("#ps-approvals-destructive") == "2"
    assert page.is_checked("#ps-auto")
    shot(page, "project-settings")
    page.keyboard.press("Escape")

    operator = new_page()
    login(operator, server, server.token("operator"))
    operator.click(".project-item:has-text('Policy')")
    operator.locator(".project.open .nav-row .menu-btn").first.click()
    operator.wait_for_selector(".menu")
    assert operator.query_selector(".menu-item:has-text('Settings')") is None
