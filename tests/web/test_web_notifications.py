"""The notifications view: an admin sees a delivery that failed and why; a viewer has no button."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.waits import wait_until

from conftest import Server, login, open_chat, poll, send, shot

pytestmark = pytest.mark.browser


def test_admin_sees_a_failing_delivery_and_why(page: Any, server: Server) -> None:
    # Port 1 on loopback: nothing listens, every attempt fails and is retried.
    project = f"/api/projects/{server.project_id()}"
    hook = "http://127.0.0.1:1/hook/s3cr3t"
    server.api.patch(project, json={"settings": {"notify_urls": [hook]}}).raise_for_status()
    try:
        chat = server.new_chat("notify view")
        login(page, server)
        open_chat(page, chat)
        send(page, "/cmd demo hostname")
        page.wait_for_selector(".run-card[data-status='draft']")

        def tried() -> bool:
            rows = server.api.get("/api/notifications").json()["deliveries"]
            return any(r["last_error"] and r["run_id"] for r in rows)

        wait_until(tried, "a failed attempt recorded")
        page.click("#open-notifications")
        poll(
            page,
            "(document.querySelector('dialog[open] tbody') || {}).textContent?.includes('127.0.0.1:1')",
        )
        text = str(page.evaluate("document.querySelector('dialog[open] tbody').textContent"))
    finally:
        server.api.patch(project, json={"settings": {"notify_urls": []}}).raise_for_status()
    assert "plan.awaiting_approval" in text and "http://127.0.0.1:1" in text
    assert "s3cr3t" not in text  # the webhook's path is never shown
    assert "Retrying" in text or "Failed" in text
    shot(page, "notifications")


def test_viewer_has_no_notifications_button(page: Any, server: Server) -> None:
    login(page, server, token=server.token("viewer"))
    assert page.is_hidden("#open-notifications")
