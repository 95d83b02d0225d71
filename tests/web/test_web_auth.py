"""Logging in (link and form) and what a viewer may do."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import ADMIN, Server, login, open_chat, shot

pytestmark = pytest.mark.browser


def test_login_link_logs_in_and_forgets_the_token(page: Any, server: Server) -> None:
    login(page, server)
    assert "token" not in page.url
    page.wait_for_selector("#me-name:has-text('admin')")
    assert page.inner_text("#me-role") == "Admin"
    # The session is the HttpOnly cookie: a reload stays logged in.
    page.reload()
    page.wait_for_selector("#app", state="visible")
    assert page.is_hidden("#login")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["piloto_session"]["httpOnly"] is True


def test_login_form_rejects_a_bad_token_then_accepts_the_right_one(
    page: Any, server: Server
) -> None:
    page.goto(server.base_url + "/")
    page.wait_for_selector("#login-token", state="visible")
    shot(page, "login")
    page.fill("#login-token", "not-a-real-token")
    page.press("#login-token", "Enter")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "not valid" in page.inner_text("#login-error")
    page.fill("#login-token", ADMIN)
    page.click("#login-submit")
    page.wait_for_selector("#app", state="visible")
    # Sign out returns to the form, and the API no longer knows us.
    page.click("#logout")
    page.wait_for_selector("#login", state="visible")
    assert page.evaluate("fetch('/api/me').then(r => r.status)") == 401


def test_viewer_sees_plans_but_cannot_confirm_or_write(new_page: Any, server: Server) -> None:
    chat = server.new_chat("Viewer can look")
    r = server.api.post("/api/send", json={"chat_id": chat["id"], "text": "/cmd demo uname -a"})
    run = r.json()["run"]
    assert run["status"] == "draft"
    page = new_page()
    login(page, server, server.token("viewer"))
    open_chat(page, chat)
    card = page.wait_for_selector(f".run-card[data-run-id='{run['id']}']")
    assert card.get_attribute("data-status") == "draft"
    assert page.query_selector(".js-confirm") is None
    assert page.query_selector(".js-cancel") is None
    assert page.is_visible(".viewer-note")
    assert page.query_selector("#composer-input") is None
    assert page.is_visible("#readonly-note")
    assert page.is_hidden("#new-project") and page.is_hidden("#add-service")
    assert page.query_selector("#new-chat") is None
    # And the server agrees: a viewer's confirm is refused.
    status = page.evaluate(
        """([id, hash]) => fetch(`/api/runs/${id}/confirm`, {method: 'POST', headers: {'Content-Type': 'application/json',
             'X-CSRF-Token': document.cookie.match(/piloto_csrf=([^;]+)/)[1]}, body: JSON.stringify({plan_hash: hash})}).then(r => r.status)""",
        [run["id"], run["plan_hash"]],
    )
    assert status == 403
    assert server.api.get(f"/api/runs/{run['id']}").json()["status"] == "draft"
