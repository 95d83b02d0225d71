"""Real OpenAPI documents against a real mock server: Stoplight Prism on loopback.

Prism is an npm package: ``npm install --prefix .tools @stoplight/prism-cli``. Prism does not
serve the document itself, so it is discovered through an explicit document URL on a static
file server (another origin), and calls go to Prism's origin (``call_base_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.support.prism import NEEDS_PRISM

from piloto.services.discovery import discover_openapi
from piloto.services.invoke import HttpTarget, invoke_http
from piloto.services.netguard import NetPolicy, guarded_client
from piloto.services.openapi import call_base_url

pytestmark = [pytest.mark.slow, NEEDS_PRISM]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(NetPolicy(), timeout=30) as c:
        yield c


async def test_petstore_through_prism(
    prism_petstore: str, static_specs_url: str, client: Any
) -> None:
    doc_url, spec = await discover_openapi(
        prism_petstore, client=client, doc_url=f"{static_specs_url}/oai/petstore.yaml"
    )
    assert doc_url == f"{static_specs_url}/oai/petstore.yaml"
    # the document names petstore.swagger.io: calls stay on the registered origin
    base = call_base_url(prism_petstore, spec)
    assert base == prism_petstore
    ops = {op.operation_id: op for op in spec.operations}
    target = HttpTarget(base_url=base, service="petstore")

    listed = await invoke_http(target, ops["listPets"], {"limit": 5}, client=client)
    assert listed.ok, listed.error
    assert isinstance(listed.body, list) and {"id", "name"} <= listed.body[0].keys()

    shown = await invoke_http(target, ops["showPetById"], {"petId": "1"}, client=client)
    assert shown.ok, shown.error
    assert isinstance(shown.body, dict) and "name" in shown.body

    created = await invoke_http(
        target, ops["createPets"], {"id": 1, "name": "Rex"}, client=client, idempotency_key="r:1"
    )
    assert created.status_code == 201, created.error


async def test_github_api_through_prism(
    prism_github: str, static_specs_url: str, client: Any
) -> None:
    _, spec = await discover_openapi(
        prism_github, client=client, doc_url=f"{static_specs_url}/github-api.json"
    )
    assert len(spec.operations) == 1223
    ops = {op.operation_id: op for op in spec.operations}
    target = HttpTarget(base_url=call_base_url(prism_github, spec), service="github")

    repo = await invoke_http(
        target, ops["repos/get"], {"owner": "octo", "repo": "hello"}, client=client
    )
    assert repo.ok, repo.error
    assert "full_name" in repo.body

    issue = await invoke_http(
        target, ops["issues/create"],
        {"owner": "octo", "repo": "hello", "title": "Broken", "body": "It broke", "labels": ["bug"]},
        client=client,
    )  # fmt: skip
    assert issue.status_code == 201, (issue.error, issue.body)
