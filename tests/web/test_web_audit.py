"""The audit view: admins see the trail with filters and can verify the chain; viewers cannot open it."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Server, login, open_chat, poll, send, shot

pytestmark = pytest.mark.browser


def test_admin_filters_and_verifies_the_audit_trail(page: Any, server: Server) -> None:
    chat = server.new_chat("audit view")
    login(page, server)
    open_chat(page, chat)
    send(page, "/cmd demo hostname")
    page.wait_for_selector(".run-card[data-status='draft'] .js-confirm")
    page.locator(".run-card[data-status='draft'] .js-confirm").click()
    page.wait_for_selector(".run-card[data-status='done']", timeout=20_000)
    page.click("#open-audit")
    page.wait_for_selector("dialog[open] tbody tr")
    poll(page, "document.querySelectorAll('dialog[open] tbody tr').length > 2")
    actions = page.evaluate(
        "[...document.querySelectorAll('dialog[open] tbody td:nth-child(3)')].map(c => c.textContent)"
    )
    assert "confirm" in actions and "propose" in actions
    page.fill("dialog[open] input[name=actor]", "nobody-at-all")
    page.press("dialog[open] input[name=actor]", "Enter")
    poll(page, "document.querySelector('dialog[open] tbody').textContent.includes('No records')")
    page.click("dialog[open] .modal-foot button")
    status = page.wait_for_selector("dialog[open] .audit-status.ok")
    assert "intact" in status.inner_text()
    shot(page, "audit")


def test_viewer_has_no_audit_button(page: Any, server: Server) -> None:
    login(page, server, token=server.token("viewer"))
    assert page.is_hidden("#open-audit")
