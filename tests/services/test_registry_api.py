"""The service registry through the HTTP API of the real app: OpenAPI services.

Registration, discovery, the allowlist (enable/disable, risk), refresh, credentials
(invariant 6) and the host that never changes (invariant 3), against real servers on
loopback: httpbin, Prism mocks of real documents, and a recording FastAPI app.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import make_token
from tests.services.conftest import Served, make_test_api
from tests.support.prism import free_port
from tests.support.registry import catalogue as _catalogue
from tests.support.registry import invoke as _invoke
from tests.support.registry import new_project as _project
from tests.support.registry import operations as _operations
from tests.support.serve import serve_asgi
from tests.support.specs import OAI

from piloto.errors import Forbidden
from piloto.store.db import Database
from piloto.store.schema import audit_log, operations, services

# -- helpers ---------------------------------------------------------------------------------


def _db(client: httpx.AsyncClient) -> Database:
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    return db


async def _register(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/services", json={"kind": "openapi", **body})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _by_route(ops: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{op['method']} {op['path']}": op for op in ops.values()}


async def _service_count(client: httpx.AsyncClient) -> int:
    async with _db(client).read() as conn:
        return int((await conn.execute(select(func.count()).select_from(services))).scalar_one())


async def _register_test_api(
    client: httpx.AsyncClient, served: Served, name: str = "api", **extra: Any
) -> dict[str, Any]:
    svc = await _register(client, name=name, base_url=served.url, **extra)
    assert svc["status"] == "online", svc
    served.seen.clear()
    return svc


# -- real servers ------------------------------------------------------------------------------


# -- discovery of real documents ---------------------------------------------------------------


async def test_httpbin_swagger_2_discovered_listed_and_called(
    app_client: httpx.AsyncClient, httpbin_url: str
) -> None:
    pid = await _project(app_client)
    svc = await _register(app_client, name="httpbin", base_url=httpbin_url, doc_url="/spec.json")
    assert svc["status"] == "online" and svc["last_error"] is None
    assert svc["doc_url"] == httpbin_url + "/spec.json"
    assert svc["operation_count"] > 20 and svc["has_credentials"] is False

    routes = _by_route(await _operations(app_client, svc["id"]))
    assert routes["GET /get"]["risk"] == "read"
    assert routes["POST /post"]["risk"] == "write"
    assert routes["DELETE /delete"]["risk"] == "destructive"
    # destructive operations wait for an admin; everything else is enabled at discovery
    assert routes["DELETE /delete"]["enabled"] is False
    assert all(op["enabled"] for op in routes.values() if op["risk"] != "destructive")

    listed = (await app_client.get("/api/services")).json()
    assert [s["name"] for s in listed] == ["httpbin"]

    result = await _invoke(app_client, pid, "httpbin", "GET /status/{codes}", codes="204")
    assert result.ok and result.status_code == 204, result.error
    got = await _invoke(app_client, pid, "httpbin", "GET /get")
    assert got.ok, got.error
    assert isinstance(got.body, dict) and got.body["url"].startswith(httpbin_url)


@pytest.mark.slow
async def test_github_api_through_prism(
    app_client: httpx.AsyncClient, prism_github: str, static_specs_url: str
) -> None:
    pid = await _project(app_client)
    svc = await _register(
        app_client,
        name="github",
        base_url=prism_github,
        doc_url=f"{static_specs_url}/github-api.json",
    )
    assert svc["status"] == "online", svc
    # the document names api.github.com: calls stay on the registered origin
    assert svc["base_url"] == prism_github
    assert svc["operation_count"] == 1223

    ops = await _operations(app_client, svc["id"])
    assert len(ops) == 1223
    assert {op["risk"] for op in ops.values()} == {"read", "write", "destructive"}
    assert ops["repos/get"]["method"] == "GET" and ops["repos/get"]["risk"] == "read"
    assert ops["issues/create"]["method"] == "POST" and ops["issues/create"]["risk"] == "write"
    assert ops["repos/delete"]["method"] == "DELETE"
    assert ops["repos/delete"]["risk"] == "destructive"
    # an operation id with a slash is addressable in the URL
    resp = await app_client.patch(
        f"/api/services/{svc['id']}/operations/repos/delete", json={"enabled": False}
    )
    assert resp.status_code == 200 and resp.json()["enabled"] is False, resp.text

    repo = await _invoke(app_client, pid, "github", "repos/get", owner="octo", repo="hello")
    assert repo.ok, repo.error
    assert isinstance(repo.body, dict) and "full_name" in repo.body
    with pytest.raises(Forbidden, match="disabled"):
        await _invoke(app_client, pid, "github", "repos/delete", owner="octo", repo="hello")


@pytest.mark.slow
async def test_petstore_from_an_uploaded_document(
    app_client: httpx.AsyncClient, prism_petstore: str
) -> None:
    pid = await _project(app_client)
    document = await asyncio.to_thread((OAI / "petstore.yaml").read_text)
    svc = await _register(app_client, name="petstore", base_url=prism_petstore, document=document)
    assert svc["status"] == "online" and svc["doc_url"] is None
    assert svc["title"] == "Swagger Petstore"
    assert svc["base_url"] == prism_petstore

    ops = await _operations(app_client, svc["id"])
    assert (ops["listPets"]["method"], ops["listPets"]["risk"]) == ("GET", "read")
    assert (ops["createPets"]["method"], ops["createPets"]["risk"]) == ("POST", "write")
    assert ops["showPetById"]["risk"] == "read"

    listed = await _invoke(app_client, pid, "petstore", "listPets", limit=5)
    assert listed.ok, listed.error
    assert isinstance(listed.body, list) and {"id", "name"} <= listed.body[0].keys()


async def test_broken_yaml_upload_says_which_line(app_client: httpx.AsyncClient) -> None:
    document = "openapi: 3.0.0\ninfo:\n  title: x\n  version: '1'\npaths:\n  /a: [unclosed\n"
    resp = await app_client.post(
        "/api/services",
        json={
            "name": "broken",
            "kind": "openapi",
            "base_url": "http://127.0.0.1:9",
            "document": document,
        },
    )
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert detail.startswith("The OpenAPI document is broken: invalid YAML")
    assert detail.endswith("at line 7, column 1. Fix it and register again."), detail
    assert (await app_client.get("/api/services")).json() == []
    assert await _service_count(app_client) == 0


async def test_broken_reference_upload_names_the_json_pointer(
    app_client: httpx.AsyncClient,
) -> None:
    document = (
        '{"openapi": "3.0.3", "info": {"title": "x", "version": "1"}, "paths": {"/a": {"get": '
        '{"parameters": [{"$ref": "#/components/parameters/Missing"}]}}}}'
    )
    resp = await app_client.post(
        "/api/services",
        json={
            "name": "broken",
            "kind": "openapi",
            "base_url": "http://127.0.0.1:9",
            "document": document,
        },
    )
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert "The OpenAPI document is broken" in detail
    assert "#/components/parameters/Missing" in detail
    assert detail.endswith(" at /paths/~1a/get/parameters/0. Fix it and register again."), detail
    assert await _service_count(app_client) == 0


# -- the allowlist --------------------------------------------------------------------------


async def test_disabled_operation_is_not_in_the_catalogue_and_never_sent(
    app_client: httpx.AsyncClient, test_api: Served
) -> None:
    pid = await _project(app_client)
    svc = await _register_test_api(app_client, test_api)
    ops = _by_route(await _operations(app_client, svc["id"]))
    op_id = ops["GET /json"]["operation"]
    assert ("api", op_id) in await _catalogue(app_client, pid)

    resp = await app_client.patch(
        f"/api/services/{svc['id']}/operations/{op_id}", json={"enabled": False}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["enabled"] is False and "spec" not in resp.json()
    assert _by_route(await _operations(app_client, svc["id"]))["GET /json"]["enabled"] is False

    catalogue = await _catalogue(app_client, pid)
    assert ("api", op_id) not in catalogue
    assert ("api", ops["POST /command"]["operation"]) in catalogue
    for name in (op_id, "GET /json"):
        with pytest.raises(Forbidden, match="disabled"):
            await _invoke(app_client, pid, "api", name)
    assert test_api.seen == []

    # enabling it again makes it callable again
    resp = await app_client.patch(
        f"/api/services/{svc['id']}/operations/GET /json", json={"enabled": True}
    )
    assert resp.status_code == 200 and resp.json()["enabled"] is True, resp.text
    assert (await _invoke(app_client, pid, "api", "GET /json")).ok
    assert [s["raw_path"] for s in test_api.seen] == ["/json"]


async def test_disabled_service_is_not_in_the_catalogue_and_never_sent(
    app_client: httpx.AsyncClient, test_api: Served
) -> None:
    pid = await _project(app_client)
    svc = await _register_test_api(app_client, test_api)
    resp = await app_client.patch(f"/api/services/{svc['id']}", json={"enabled": False})
    assert resp.status_code == 200 and resp.json()["enabled"] is False, resp.text

    assert await _catalogue(app_client, pid) == set()
    with pytest.raises(Forbidden, match="service “api” is disabled"):
        await _invoke(app_client, pid, "api", "GET /json")
    assert test_api.seen == []

    resp = await app_client.patch(f"/api/services/{svc['id']}", json={"enabled": True})
    assert resp.status_code == 200, resp.text
    assert await _catalogue(app_client, pid)
    assert (await _invoke(app_client, pid, "api", "GET /json")).ok


async def test_unknown_operation_is_refused_without_a_call(
    app_client: httpx.AsyncClient, test_api: Served
) -> None:
    pid = await _project(app_client)
    svc = await _register_test_api(app_client, test_api)
    with pytest.raises(Forbidden, match="has no operation"):
        await _invoke(app_client, pid, "api", "GET /admin")
    resp = await app_client.patch(
        f"/api/services/{svc['id']}/operations/GET /admin", json={"enabled": True}
    )
    assert resp.status_code == 404, resp.text
    assert test_api.seen == []


async def test_risk_override_and_refresh_keep_the_admins_choices(
    app_client: httpx.AsyncClient, test_api: Served
) -> None:
    svc = await _register_test_api(app_client, test_api)
    sid = svc["id"]
    before = _by_route(await _operations(app_client, sid))
    assert before["GET /json"]["risk"] == "read" and before["GET /json"]["risk_override"] is None

    resp = await app_client.patch(
        f"/api/services/{sid}/operations/GET /json", json={"risk": "destructive"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["risk"] == "destructive"
    assert resp.json()["risk_override"] == "destructive"
    resp = await app_client.patch(
        f"/api/services/{sid}/operations/POST /command", json={"enabled": False}
    )
    assert resp.status_code == 200, resp.text
    bad = await app_client.patch(
        f"/api/services/{sid}/operations/GET /json", json={"risk": "harmless"}
    )
    assert bad.status_code == 422, bad.text

    resp = await app_client.post(f"/api/services/{sid}/refresh")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "online"
    assert [s["raw_path"] for s in test_api.seen] == ["/openapi.json"]

    after = _by_route(await _operations(app_client, sid))
    assert after.keys() == before.keys()
    assert after["GET /json"]["risk"] == "destructive"
    assert after["GET /json"]["risk_override"] == "destructive"
    assert after["POST /command"]["enabled"] is False
    assert after["GET /items/{item_id}"]["enabled"] is True
    assert after["GET /items/{item_id}"]["risk"] == "read"


async def test_path_parameters_stay_in_their_template(
    app_client: httpx.AsyncClient, test_api: Served
) -> None:
    pid = await _project(app_client)
    await _register_test_api(app_client, test_api)
    result = await _invoke(app_client, pid, "api", "GET /items/{item_id}", item_id="../../admin")
    assert result.ok, result.error
    assert result.body == {"item_id": "../../admin"}
    assert [s["raw_path"] for s in test_api.seen] == ["/items/..%2F..%2Fadmin"]


# -- credentials (invariant 6) ---------------------------------------------------------------


async def test_credentials_sent_but_never_shown_logged_audited_or_stored_in_clear(
    app_client: httpx.AsyncClient, test_api: Served, caplog: pytest.LogCaptureFixture
) -> None:
    header_secret = "hdr-" + secrets.token_hex(12)
    bearer_secret = "tok-" + secrets.token_hex(12)
    caplog.set_level(logging.DEBUG)
    pid = await _project(app_client)
    responses: list[httpx.Response] = []

    resp = await app_client.post(
        "/api/services",
        json={
            "name": "secret-api",
            "kind": "openapi",
            "base_url": test_api.url,
            "headers": {"X-Api-Key": header_secret},
            "bearer_token": bearer_secret,
        },
    )
    assert resp.status_code == 201, resp.text
    responses.append(resp)
    sid = resp.json()["id"]
    assert resp.json()["has_credentials"] is True
    discovery = test_api.seen[-1]
    assert discovery["raw_path"] == "/openapi.json"
    assert discovery["headers"]["x-api-key"] == header_secret
    assert discovery["headers"]["authorization"] == f"Bearer {bearer_secret}"

    test_api.seen.clear()
    result = await _invoke(app_client, pid, "secret-api", "GET /json")
    assert result.ok, result.error
    assert test_api.seen[0]["headers"]["x-api-key"] == header_secret
    assert test_api.seen[0]["headers"]["authorization"] == f"Bearer {bearer_secret}"

    for method, url, body in [
        ("GET", "/api/services", None),
        ("GET", f"/api/services?project_id={pid}", None),
        ("GET", f"/api/services/{sid}", None),
        ("GET", f"/api/services/{sid}/operations", None),
        ("PATCH", f"/api/services/{sid}", {"timeout_s": 12}),
        ("PATCH", f"/api/services/{sid}/operations/GET /json", {"risk": "write"}),
        ("POST", f"/api/services/{sid}/refresh", None),
    ]:
        resp = await app_client.request(method, url, json=body)
        assert resp.status_code == 200, (url, resp.text)
        responses.append(resp)
    assert (await app_client.get(f"/api/services/{sid}")).json()["has_credentials"] is True
    dup = await app_client.post(
        "/api/services",
        json={"name": "secret-api", "kind": "openapi", "base_url": test_api.url,
              "bearer_token": bearer_secret},
    )  # fmt: skip
    assert dup.status_code == 409
    responses.append(dup)
    for resp in responses:
        assert header_secret not in resp.text and bearer_secret not in resp.text, resp.url

    async with _db(app_client).read() as conn:
        stored = (
            await conn.execute(select(services.c.credentials_enc).where(services.c.id == sid))
        ).scalar_one()
        audit_rows = [
            " ".join(str(v) for v in row) for row in await conn.execute(select(audit_log))
        ]
    assert stored and header_secret not in stored and bearer_secret not in stored
    assert any("service.register" in row for row in audit_rows)
    for row in audit_rows:
        assert header_secret not in row and bearer_secret not in row, row

    assert caplog.records, "expected log records at DEBUG"
    # the call was logged, under the service's name
    assert any(getattr(r, "service", None) == "secret-api" for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert header_secret not in text and bearer_secret not in text, record.__dict__
    assert header_secret not in caplog.text and bearer_secret not in caplog.text


# -- refusals ------------------------------------------------------------------------------------


async def test_unreachable_base_url_is_refused_and_nothing_stored(
    app_client: httpx.AsyncClient,
) -> None:
    port = free_port()
    resp = await app_client.post(
        "/api/services",
        json={"name": "later", "kind": "openapi", "base_url": f"http://127.0.0.1:{port}"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"] == (
        f"Discovery failed: could not reach http://127.0.0.1:{port}: connection refused. "
        "Fix it, or register with allow_offline to retry later."
    )
    assert (await app_client.get("/api/services")).json() == []
    assert await _service_count(app_client) == 0


async def test_offline_service_goes_online_on_refresh(app_client: httpx.AsyncClient) -> None:
    pid = await _project(app_client)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    svc = await _register(app_client, name="later", base_url=url, allow_offline=True)
    assert svc["status"] == "offline" and svc["operation_count"] == 0
    assert svc["last_error"] == f"could not reach {url}: connection refused"
    assert await _operations(app_client, svc["id"]) == {}
    with pytest.raises(Forbidden):
        await _invoke(app_client, pid, "later", "GET /json")

    app, served = make_test_api()
    server = serve_asgi(app, port=port)
    served.url = await asyncio.to_thread(next, server)
    try:
        resp = await app_client.post(f"/api/services/{svc['id']}/refresh")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["status"] == "online" and body["last_error"] is None
        assert body["operation_count"] > 0
        assert "GET /json" in _by_route(await _operations(app_client, svc["id"]))
        assert (await _invoke(app_client, pid, "later", "GET /json")).ok
    finally:
        await asyncio.to_thread(server.close)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:169.254.169.254]/",
        "http://0xa9fea9fe/",
        "http://metadata.google.internal/",
    ],
)
@pytest.mark.parametrize("allow_offline", [False, True])
async def test_metadata_address_is_refused_always(
    app_client: httpx.AsyncClient, base_url: str, allow_offline: bool
) -> None:
    resp = await app_client.post(
        "/api/services",
        json={"name": "meta", "kind": "openapi", "base_url": base_url,
              "allow_offline": allow_offline},
    )  # fmt: skip
    assert resp.status_code == 422, resp.text
    assert "metadata" in resp.json()["detail"], resp.json()
    assert resp.json()["detail"].startswith("This address cannot be registered: refused:")
    assert await _service_count(app_client) == 0


async def test_userinfo_in_the_url_is_refused(app_client: httpx.AsyncClient) -> None:
    resp = await app_client.post(
        "/api/services",
        json={"name": "pw", "kind": "openapi", "base_url": "http://admin:hunter2@127.0.0.1:1/"},
    )
    assert resp.status_code == 422, resp.text
    assert "credentials in the URL are not allowed" in resp.json()["detail"]
    assert "hunter2" not in resp.text
    assert await _service_count(app_client) == 0


async def test_viewer_and_operator_cannot_administer_services(
    app_client: httpx.AsyncClient, anon_client: httpx.AsyncClient, test_api: Served
) -> None:
    svc = await _register_test_api(app_client, test_api)
    sid = svc["id"]
    for role in ("viewer", "operator"):
        token = await make_token(app_client, role)
        headers = {"Authorization": f"Bearer {token}"}
        resp = await anon_client.post(
            "/api/services",
            json={"name": f"x-{role}", "kind": "openapi", "base_url": test_api.url},
            headers=headers,
        )
        assert resp.status_code == 403, resp.text
        for method, url, body in [
            ("PATCH", f"/api/services/{sid}", {"enabled": False}),
            ("PATCH", f"/api/services/{sid}/operations/GET /json", {"enabled": False}),
            ("POST", f"/api/services/{sid}/refresh", None),
            ("DELETE", f"/api/services/{sid}", None),
        ]:
            resp = await anon_client.request(method, url, json=body, headers=headers)
            assert resp.status_code == 403, (role, url, resp.text)
        # reading is allowed
        listed = await anon_client.get("/api/services", headers=headers)
        assert listed.status_code == 200 and [s["name"] for s in listed.json()] == ["api"]
    assert (await anon_client.post("/api/services", json={})).status_code == 401
    assert test_api.seen == []
    assert await _service_count(app_client) == 1
    ops = _by_route(await _operations(app_client, sid))
    assert ops["GET /json"]["enabled"] is True


# -- names, scopes, removal ----------------------------------------------------------------------


async def test_duplicate_names_per_scope(app_client: httpx.AsyncClient, test_api: Served) -> None:
    ops_project = await _project(app_client, "Ops")
    dev_project = await _project(app_client, "Dev")
    await _register(app_client, name="api", base_url=test_api.url)
    resp = await app_client.post(
        "/api/services", json={"name": "API", "kind": "openapi", "base_url": test_api.url}
    )
    assert resp.status_code == 409, resp.text
    assert resp.json()["detail"] == "A service named “api” already exists globally."

    for pid in (ops_project, dev_project):
        await _register(app_client, name="api", base_url=test_api.url, project_id=pid)
    resp = await app_client.post(
        "/api/services",
        json={"name": "api", "kind": "openapi", "base_url": test_api.url,
              "project_id": ops_project},
    )  # fmt: skip
    assert resp.status_code == 409, resp.text
    assert resp.json()["detail"] == "A service named “api” already exists in this project."
    assert await _service_count(app_client) == 3


async def test_concurrent_duplicates_register_once(
    app_client: httpx.AsyncClient, test_api: Served
) -> None:
    body = {"name": "twin", "kind": "openapi", "base_url": test_api.url}
    answers = await asyncio.gather(*(app_client.post("/api/services", json=body) for _ in range(6)))
    assert sorted(r.status_code for r in answers) == [201] + [409] * 5, [r.text for r in answers]
    assert await _service_count(app_client) == 1


async def test_project_service_is_invisible_to_another_project(
    app_client: httpx.AsyncClient, test_api: Served
) -> None:
    mine = await _project(app_client, "Mine")
    other = await _project(app_client, "Other")
    await _register_test_api(app_client, test_api, name="private", project_id=mine)

    mine_list = (await app_client.get("/api/services", params={"project_id": mine})).json()
    other_list = (await app_client.get("/api/services", params={"project_id": other})).json()
    assert [s["name"] for s in mine_list] == ["private"]
    assert other_list == []
    assert await _catalogue(app_client, other) == set()
    assert await _catalogue(app_client, mine)

    with pytest.raises(Forbidden, match="unknown service “private”"):
        await _invoke(app_client, other, "private", "GET /json")
    assert test_api.seen == []
    assert (await _invoke(app_client, mine, "private", "GET /json")).ok

    # a plan proposed in the other project does not validate
    chat = (await app_client.post("/api/chats", json={"project_id": other, "title": "t"})).json()
    resp = await app_client.post(
        "/api/send", json={"chat_id": chat["id"], "text": "/call private GET /json {}"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["run"] is None
    assert "unknown service “private”" in resp.json()["reply"]["content"]


async def test_deleting_a_service_removes_its_operations(
    app_client: httpx.AsyncClient, test_api: Served
) -> None:
    pid = await _project(app_client)
    svc = await _register_test_api(app_client, test_api)
    sid = svc["id"]
    resp = await app_client.delete(f"/api/services/{sid}")
    assert resp.status_code == 200 and resp.json() == {"ok": True}, resp.text

    assert (await app_client.get(f"/api/services/{sid}")).status_code == 404
    assert (await app_client.get(f"/api/services/{sid}/operations")).status_code == 404
    assert (await app_client.delete(f"/api/services/{sid}")).status_code == 404
    async with _db(app_client).read() as conn:
        left = (
            await conn.execute(
                select(func.count()).select_from(operations).where(operations.c.service_id == sid)
            )
        ).scalar_one()
    assert left == 0
    with pytest.raises(Forbidden, match="unknown service"):
        await _invoke(app_client, pid, "api", "GET /json")
    assert test_api.seen == []
    # the name is free again
    await _register(app_client, name="api", base_url=test_api.url)
