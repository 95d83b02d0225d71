"""Project settings are policy: only an admin sets them, on create as on update; PATCH merges
and names any key it does not know."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import make_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def project(client: httpx.AsyncClient, **settings: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Ops"}
    if settings:
        body["settings"] = settings
    resp = await client.post("/api/projects", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


@pytest.mark.parametrize(
    "policy",
    [
        {"auto_approve_reads": True},
        {"command_allowlist": None},
        {"required_approvals": {}},
        {"max_steps": 200, "retry_attempts": 10},
    ],
)
async def test_operator_cannot_create_a_project_with_policy(
    app_client: httpx.AsyncClient, policy: dict[str, Any]
) -> None:
    operator = await make_token(app_client, "operator")
    resp = await app_client.post(
        "/api/projects", json={"name": "Sneaky", "settings": policy}, headers=bearer(operator)
    )
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["code"] == "admin_only_setting"
    assert "Only an admin" in body["detail"] and sorted(policy)[0] in body["detail"]
    assert [p["name"] for p in (await app_client.get("/api/projects")).json()] == []


async def test_operator_creates_and_renames_without_policy(app_client: httpx.AsyncClient) -> None:
    operator = await make_token(app_client, "operator")
    resp = await app_client.post("/api/projects", json={"name": "Mine"}, headers=bearer(operator))
    assert resp.status_code == 201
    assert resp.json()["settings"]["auto_approve_reads"] is False
    pid = resp.json()["id"]
    renamed = await app_client.patch(
        f"/api/projects/{pid}", json={"name": "Ours"}, headers=bearer(operator)
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ours"
    refused = await app_client.patch(
        f"/api/projects/{pid}",
        json={"settings": {"auto_approve_reads": True}},
        headers=bearer(operator),
    )
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only_setting"
    assert (await app_client.get(f"/api/projects/{pid}")).json()["settings"][
        "auto_approve_reads"
    ] is False


async def test_admin_creates_with_policy(app_client: httpx.AsyncClient) -> None:
    p = await project(app_client, auto_approve_reads=True, required_approvals={"destructive": 2})
    assert p["settings"]["auto_approve_reads"] is True
    assert p["settings"]["required_approvals"] == {"destructive": 2}
    assert p["settings"]["max_steps"] == 20  # the rest keep their defaults


async def test_patch_merges_into_the_current_settings(app_client: httpx.AsyncClient) -> None:
    p = await project(app_client, command_allowlist=["ls", "cat"])
    resp = await app_client.patch(
        f"/api/projects/{p['id']}", json={"settings": {"auto_approve_reads": True}}
    )
    assert resp.status_code == 200, resp.text
    settings = resp.json()["settings"]
    assert settings["command_allowlist"] == ["ls", "cat"] and settings["auto_approve_reads"]
    stored = (await app_client.get(f"/api/projects/{p['id']}")).json()["settings"]
    assert stored == settings
    cleared = await app_client.patch(
        f"/api/projects/{p['id']}", json={"settings": {"command_allowlist": None}}
    )
    assert cleared.json()["settings"]["command_allowlist"] is None
    assert cleared.json()["settings"]["auto_approve_reads"] is True


@pytest.mark.parametrize("typo", ["command_alowlist", "auto_approve_read", "Required_Approvals"])
async def test_a_typo_key_is_named_and_changes_nothing(
    app_client: httpx.AsyncClient, typo: str
) -> None:
    p = await project(app_client, command_allowlist=["ls"])
    resp = await app_client.patch(
        f"/api/projects/{p['id']}", json={"settings": {typo: ["ls", "rm"], "max_steps": 5}}
    )
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["code"] == "unknown_setting" and body["keys"] == [typo]
    assert typo in body["detail"] and "command_allowlist" in body["detail"]
    assert "required_approvals" in body["known"]
    after = (await app_client.get(f"/api/projects/{p['id']}")).json()["settings"]
    assert after["command_allowlist"] == ["ls"] and after["max_steps"] == 20


async def test_a_typo_on_create_is_refused(app_client: httpx.AsyncClient) -> None:
    resp = await app_client.post(
        "/api/projects", json={"name": "T", "settings": {"auto_aprove_reads": True}}
    )
    assert resp.status_code == 422 and resp.json()["code"] == "unknown_setting"


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"destrucive": 2}, "“destrucive” is not a risk"),
        ({"DESTRUCTIVE": 2}, "is not a risk"),
        ({"destructive": 0}, "from 1 to 10"),
        ({"destructive": 11}, "from 1 to 10"),
        ({"destructive": "2"}, "from 1 to 10"),
        ({"destructive": True}, "from 1 to 10"),
        ({"destructive": 2.5}, "from 1 to 10"),
        ([2], "must be an object"),
        ("destructive", "must be an object"),
    ],
)
async def test_required_approvals_is_validated(
    app_client: httpx.AsyncClient, value: Any, needle: str
) -> None:
    p = await project(app_client)
    resp = await app_client.patch(
        f"/api/projects/{p['id']}", json={"settings": {"required_approvals": value}}
    )
    assert resp.status_code == 422, resp.text
    assert needle in resp.json()["detail"]
    after = (await app_client.get(f"/api/projects/{p['id']}")).json()["settings"]
    assert after["required_approvals"] == {}


async def test_other_bad_values_are_a_clear_422(app_client: httpx.AsyncClient) -> None:
    p = await project(app_client)
    for bad in ({"max_steps": 0}, {"auto_approve_reads": "maybe"}, {"command_allowlist": "ls"}):
        resp = await app_client.patch(f"/api/projects/{p['id']}", json={"settings": bad})
        assert resp.status_code == 422, resp.text
        assert resp.json()["code"] == "invalid_setting"
        assert next(iter(bad)) in resp.json()["detail"]
