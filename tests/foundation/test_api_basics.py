"""Projects, chats, messages and auth through the real app on both backends."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import make_token

from piloto.threads import repo as threads_repo


async def test_health_without_auth(anon_client: httpx.AsyncClient, settings: object) -> None:
    resp = await anon_client.get("/api/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert body["database"] in ("sqlite", "postgresql")
    assert resp.headers["x-request-id"]


async def test_request_id_is_echoed(anon_client: httpx.AsyncClient) -> None:
    resp = await anon_client.get("/api/health", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"


async def test_no_token_is_401(anon_client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/projects"),
        ("POST", "/api/projects"),
        ("GET", "/api/chats/x/messages"),
    ]:
        resp = await anon_client.request(method, path, json={"name": "x"})
        assert resp.status_code == 401, (method, path)
        assert "Authentication required" in resp.json()["detail"]


async def test_bad_token_is_401(anon_client: httpx.AsyncClient) -> None:
    resp = await anon_client.get("/api/projects", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    resp = await anon_client.get("/api/projects", headers={"Authorization": "Basic abc"})
    assert resp.status_code == 401


async def test_project_crud(app_client: httpx.AsyncClient) -> None:
    resp = await app_client.post("/api/projects", json={"name": "  Ops   team "})
    assert resp.status_code == 201
    project = resp.json()
    assert project["name"] == "Ops team"
    dup = await app_client.post("/api/projects", json={"name": "Ops team"})
    assert dup.status_code == 409
    assert "already exists" in dup.json()["detail"]
    listed = (await app_client.get("/api/projects")).json()
    assert [p["name"] for p in listed] == ["Ops team"]
    renamed = await app_client.patch(f"/api/projects/{project['id']}", json={"name": "Infra"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Infra"
    assert (await app_client.delete(f"/api/projects/{project['id']}")).status_code == 200
    assert (await app_client.get(f"/api/projects/{project['id']}")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 5}, {}, {"name": None}],
)
async def test_bad_project_names(app_client: httpx.AsyncClient, body: dict[str, object]) -> None:
    resp = await app_client.post("/api/projects", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"]


async def test_malformed_json_is_a_clear_422(app_client: httpx.AsyncClient) -> None:
    resp = await app_client.post(
        "/api/projects", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422
    assert "not valid JSON" in resp.json()["detail"]


async def test_chats_newest_first_and_messages_paging(app_client: httpx.AsyncClient) -> None:
    pid = (await app_client.post("/api/projects", json={"name": "P"})).json()["id"]
    ids = []
    for i in range(3):
        resp = await app_client.post("/api/chats", json={"project_id": pid, "title": f"chat {i}"})
        assert resp.status_code == 201
        ids.append(resp.json()["id"])
    listed = (await app_client.get(f"/api/projects/{pid}/chats")).json()
    assert [c["id"] for c in listed] == list(reversed(ids))

    db = app_client.app.state.db  # type: ignore[attr-defined]
    async with db.write() as conn:
        for i in range(250):
            await threads_repo.append_message(conn, chat_id=ids[0], role="user", content=f"m{i}")
    page = (await app_client.get(f"/api/chats/{ids[0]}/messages", params={"limit": 200})).json()
    assert len(page) == 200
    assert [m["seq"] for m in page] == list(range(1, 201))
    rest = (
        await app_client.get(f"/api/chats/{ids[0]}/messages", params={"after": 200, "limit": 200})
    ).json()
    assert [m["content"] for m in rest] == [f"m{i}" for i in range(200, 250)]
    too_many = await app_client.get(f"/api/chats/{ids[0]}/messages", params={"limit": 201})
    assert too_many.status_code == 422

    renamed = await app_client.patch(f"/api/chats/{ids[0]}", json={"title": "renamed"})
    assert renamed.json()["title"] == "renamed"
    assert (await app_client.delete(f"/api/chats/{ids[0]}")).status_code == 200
    assert (await app_client.get(f"/api/chats/{ids[0]}/messages")).status_code == 404


async def test_chat_in_unknown_project_is_404(app_client: httpx.AsyncClient) -> None:
    resp = await app_client.post("/api/chats", json={"project_id": "nope", "title": "x"})
    assert resp.status_code == 404
    assert "No such project" in resp.json()["detail"]


async def test_deleting_a_project_deletes_its_chats(app_client: httpx.AsyncClient) -> None:
    pid = (await app_client.post("/api/projects", json={"name": "P"})).json()["id"]
    cid = (await app_client.post("/api/chats", json={"project_id": pid, "title": "c"})).json()["id"]
    await app_client.delete(f"/api/projects/{pid}")
    assert (await app_client.get(f"/api/chats/{cid}")).status_code == 404


async def test_roles(app_client: httpx.AsyncClient, anon_client: httpx.AsyncClient) -> None:
    pid = (await app_client.post("/api/projects", json={"name": "P"})).json()["id"]
    viewer = {"Authorization": f"Bearer {await make_token(app_client, 'viewer')}"}
    operator = {"Authorization": f"Bearer {await make_token(app_client, 'operator')}"}
    assert (await anon_client.get("/api/projects", headers=viewer)).status_code == 200
    resp = await anon_client.delete(f"/api/projects/{pid}", headers=viewer)
    assert resp.status_code == 403
    assert "admin role" in resp.json()["detail"]
    assert (
        await anon_client.post("/api/projects", json={"name": "Q"}, headers=viewer)
    ).status_code == 403
    assert (
        await anon_client.post("/api/projects", json={"name": "Q"}, headers=operator)
    ).status_code == 201
    assert (await anon_client.delete(f"/api/projects/{pid}", headers=operator)).status_code == 403
    assert (await anon_client.get("/api/tokens", headers=operator)).status_code == 403
    assert (await app_client.get(f"/api/projects/{pid}")).status_code == 200


async def test_revoked_token_stops_working(
    app_client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    created = (await app_client.post("/api/tokens", json={"name": "ci", "role": "viewer"})).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert (await anon_client.get("/api/projects", headers=headers)).status_code == 200
    listed = (await app_client.get("/api/tokens")).json()
    assert all("hash" not in str(t.keys()) for t in listed)
    assert (await app_client.delete(f"/api/tokens/{created['id']}")).status_code == 200
    assert (await anon_client.get("/api/projects", headers=headers)).status_code == 401


async def test_cookie_login_needs_csrf_for_writes(anon_client: httpx.AsyncClient) -> None:
    from tests.conftest import ADMIN_TOKEN

    bad = await anon_client.post("/api/login", json={"token": "wrong"})
    assert bad.status_code == 401
    resp = await anon_client.post("/api/login", json={"token": ADMIN_TOKEN})
    assert resp.status_code == 200
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    csrf = resp.json()["csrf"]
    assert (await anon_client.get("/api/projects")).status_code == 200
    no_csrf = await anon_client.post("/api/projects", json={"name": "X"})
    assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf"
    ok = await anon_client.post("/api/projects", json={"name": "X"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    await anon_client.post("/api/logout", headers={"X-CSRF-Token": csrf})
    assert (await anon_client.get("/api/projects")).status_code == 401
