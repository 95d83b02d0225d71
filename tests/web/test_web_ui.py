"""Layout and preferences: services modal, phone width, Spanish, dark mode, keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import Server, login, open_chat, poll, send, shot, start_server

pytestmark = pytest.mark.browser


def test_add_service_shows_discovery_and_toggles_operations(page: Any, server: Server) -> None:
    demo = next(s for s in server.api.get("/api/services").json() if s["name"] == "demo")
    login(page, server)
    page.click(".project-item:has-text('Demo')")
    page.click("#add-service")
    dialog = page.wait_for_selector("dialog[open]")
    # Focus is trapped in the modal and Esc closes it.
    for _ in range(30):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('dialog[open]') !== null")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog[open]", state="detached")
    assert page.evaluate("document.activeElement.id") == "add-service"

    page.click("#add-service")
    dialog = page.wait_for_selector("dialog[open]")
    dialog.query_selector("input.input").fill("Bad Name!")
    page.fill("dialog[open] input[type=url] >> nth=0", demo["base_url"])
    page.click("dialog[open] button[type=submit]")
    err = page.wait_for_selector("dialog[open] .form-error:not([hidden])")
    assert "name" in err.inner_text().lower()
    shot(page, "services-add-form")
    dialog.query_selector("input.input").fill("tools2")
    page.click("dialog[open] button[type=submit]")
    page.wait_for_selector("dialog[open].svc-modal .op-row")
    rows = page.query_selector_all("dialog[open] .op-row")
    assert len(rows) == 3
    assert page.query_selector("dialog[open] .risk-read") is not None
    shot(page, "services-modal")
    svc = next(s for s in server.api.get("/api/services").json() if s["name"] == "tools2")
    first = page.locator("dialog[open] .op-row input.switch").first
    first.click()
    poll(page, "() => !document.querySelector('dialog[open] .op-row input.switch').disabled")
    ops = server.api.get(f"/api/services/{svc['id']}/operations").json()
    assert sum(1 for o in ops if not o["enabled"]) == 1
    page.click("dialog[open] .foot-left .btn.subtle")  # Refresh
    page.wait_for_selector(".toast:has-text('3')")
    page.click("dialog[open] .modal-foot .btn.primary")
    page.wait_for_selector(".service-item:has-text('tools2') .status-dot.svc-online")
    server.api.delete(f"/api/services/{svc['id']}")


def test_delete_project_names_what_goes_with_it(page: Any, server: Server) -> None:
    pid = server.api.post("/api/projects", json={"name": "Throwaway"}).json()["id"]
    for title in ("a", "b"):
        server.api.post("/api/chats", json={"project_id": pid, "title": title})
    login(page, server)
    page.click(".project-item:has-text('Throwaway')")
    page.locator(".project.open .nav-row").first.hover()
    page.locator(".project.open .nav-row .menu-btn").first.click()
    page.click(".menu-item.danger-text")
    text = page.inner_text("dialog[open] .modal-text")
    assert "Throwaway" in text and "2 chats" in text
    page.click("dialog[open] .btn.danger")
    page.wait_for_selector("dialog[open]", state="detached")
    page.wait_for_selector(".project-item:has-text('Throwaway')", state="detached")
    assert all(p["name"] != "Throwaway" for p in server.api.get("/api/projects").json())


def test_phone_width_uses_a_drawer(new_page: Any, server: Server) -> None:
    chat = server.new_chat("On the phone")
    server.api.post("/api/send", json={"chat_id": chat["id"], "text": "/cmd demo uname -a"})
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    login(page, server)
    open_chat(page, chat)
    page.wait_for_selector(".run-card[data-status='draft']")
    assert page.is_hidden("#sidebar")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-chat")
    page.click("#open-drawer")
    page.wait_for_selector("#sidebar", state="visible")
    page.wait_for_timeout(250)
    shot(page, "phone-drawer")
    page.keyboard.press("Escape")
    page.wait_for_selector("#sidebar", state="hidden")
    page.click("#open-drawer")
    page.click(f".chat-item[data-chat-id='{chat['id']}']")
    page.wait_for_selector("#sidebar", state="hidden")
    assert page.is_visible("#composer-input")
    box = page.locator(".run-card").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390


def test_spanish_via_the_switch_follows_the_chat(page: Any, server: Server) -> None:
    chat = server.new_chat("En español")
    login(page, server)
    open_chat(page, chat)
    page.click("#sidebar .lang-switch .seg[data-lang='es']")
    page.wait_for_selector(".nav-title:has-text('Proyectos')")
    assert page.get_attribute("html", "lang") == "es"
    assert page.get_attribute("#composer-input", "placeholder").startswith("Escribe")
    poll(
        page,
        "(id) => fetch(`/api/chats/${id}`).then(r => r.json()).then(c => c.language === 'es')",
        chat["id"],
    )
    page.wait_for_selector("#conn[data-status='live']")
    send(page, "/cmd demo uname -a")
    card = page.wait_for_selector(".run-card[data-status='draft']")
    assert "Confirmar" in card.inner_text()
    page.locator(".run-card[data-status='draft'] .js-confirm").click()
    page.wait_for_selector(".run-card[data-status='done']")
    page.wait_for_selector(".msg.event:has-text('Confirmado por')")
    shot(page, "spanish")
    page.reload()
    page.wait_for_selector(".nav-title:has-text('Proyectos')")
    assert page.evaluate("localStorage.getItem('piloto.lang')") == "es"
    page.click("#sidebar .lang-switch .seg[data-lang='en']")
    page.wait_for_selector(".nav-title:has-text('Projects')")


def test_dark_mode_follows_the_system_and_the_toggle(new_page: Any, server: Server) -> None:
    chat = server.new_chat("At night")
    server.api.post("/api/send", json={"chat_id": chat["id"], "text": "/cmd demo uname -a"})
    page = new_page(color_scheme="dark")
    login(page, server)
    open_chat(page, chat)
    page.wait_for_selector(".run-card[data-status='draft']")
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(15, 17, 21)", bg
    shot(page, "dark-mode")
    # system -> light -> dark: the toggle wins over the system and is remembered.
    page.click("#sidebar .theme-toggle")
    assert page.get_attribute("html", "data-theme") == "light"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    page.reload()
    page.wait_for_selector("#app", state="visible")
    assert page.get_attribute("html", "data-theme") == "light"


def test_composer_keys(page: Any, server: Server) -> None:
    chat = server.new_chat("Keys")
    login(page, server)
    open_chat(page, chat)
    page.fill("#composer-input", "first line")
    page.press("#composer-input", "Shift+Enter")
    page.type("#composer-input", "second line")
    assert page.input_value("#composer-input") == "first line\nsecond line"
    page.press("#composer-input", "Enter")
    page.wait_for_selector(".msg.user:has-text('second line')")
    assert page.input_value("#composer-input") == ""
    page.wait_for_selector(".msg.event")  # direct mode explains itself
    assert page.is_enabled("#composer-input")


def test_server_restart_shows_a_banner_then_resumes_without_loss(page: Any, tmp_path: Path) -> None:
    srv = start_server(tmp_path / "restart")
    try:
        chat = srv.new_chat("Flaky network")
        login(page, srv)
        open_chat(page, chat)
        port = int(srv.base_url.rsplit(":", 1)[1])
        srv.stop()
        page.wait_for_selector("#banner:not([hidden])", timeout=20_000)
        shot(page, "disconnected-banner")
        srv = start_server(tmp_path / "restart", port=port)
        srv.api.post("/api/send", json={"chat_id": chat["id"], "text": "/help"}).raise_for_status()
        page.wait_for_selector("#banner", state="hidden", timeout=40_000)
        page.wait_for_selector(".msg.user:has-text('/help')")
        page.wait_for_selector(".msg.assistant:has-text('/cmd')")
        assert page.is_visible("#conn[data-status='live']")
    finally:
        srv.stop()
