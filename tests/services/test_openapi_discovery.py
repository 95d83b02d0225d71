"""discover_openapi against live servers on loopback: httpbin (Swagger 2.0), a FastAPI app
(OpenAPI 3.1), and hostile answers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from piloto.services.discovery import DiscoveryError, discover_openapi
from piloto.services.invoke import HttpTarget, invoke_http
from piloto.services.netguard import NetPolicy, guarded_client
from piloto.services.openapi import SpecError, call_base_url


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(NetPolicy(), timeout=10) as c:
        yield c


async def test_httpbin_swagger_2_via_its_spec_json(httpbin_url: str, client: Any) -> None:
    doc_url, spec = await discover_openapi(httpbin_url, client=client, doc_url="/spec.json")
    assert doc_url == httpbin_url + "/spec.json"
    assert spec.spec_version == "2.0"
    assert len(spec.operations) > 20
    by_path = {(op.method, op.path): op for op in spec.operations}
    assert by_path[("GET", "/get")].risk == "read"
    assert by_path[("DELETE", "/delete")].risk == "destructive"
    assert by_path[("POST", "/post")].risk == "write"
    # and a real call through the discovered operation
    base = call_base_url(httpbin_url, spec)
    assert base.startswith(httpbin_url)
    status = next(
        op for op in spec.operations if op.path == "/status/{codes}" and op.method == "GET"
    )
    result = await invoke_http(
        HttpTarget(base_url=httpbin_url), status, {"codes": "204"}, client=client
    )
    assert result.status_code == 204 and result.ok


async def test_httpbin_without_a_known_path_lists_what_was_tried(
    httpbin_url: str, client: Any
) -> None:
    with pytest.raises(DiscoveryError) as caught:
        await discover_openapi(httpbin_url, client=client)
    message = str(caught.value)
    assert message.startswith(
        f"no OpenAPI document found at {httpbin_url}; tried /openapi.json (404)"
    )
    assert "/api/openapi.json" in message


async def test_fastapi_openapi_31_discovered(test_api: Any, client: Any) -> None:
    doc_url, spec = await discover_openapi(test_api.url + "/", client=client)
    assert doc_url == test_api.url + "/openapi.json"
    assert spec.spec_version.startswith("3.1")
    ops = {(op.method, op.path): op for op in spec.operations}
    assert ops[("POST", "/command")].risk == "write"
    assert call_base_url(test_api.url, spec) == test_api.url


async def test_credentials_go_only_to_the_registered_origin(
    test_api: Any, other_api: Any, client: Any
) -> None:
    secret = {"Authorization": "Bearer tok-SECRET"}
    await discover_openapi(test_api.url, client=client, headers=secret)
    assert test_api.seen[-1]["headers"]["authorization"] == "Bearer tok-SECRET"
    test_api.seen.clear()
    await discover_openapi(
        other_api.url, client=client, doc_url=test_api.url + "/openapi.json", headers=secret
    )
    assert "authorization" not in test_api.seen[-1]["headers"]
    assert other_api.seen == []


async def test_html_document_is_refused(test_api: Any, client: Any) -> None:
    with pytest.raises(SpecError, match="HTML"):
        await discover_openapi(test_api.url, client=client, doc_url="/html")


async def test_document_over_the_cap_is_refused(test_api: Any, client: Any) -> None:
    with pytest.raises(DiscoveryError, match="larger than the 1 MiB limit"):
        await discover_openapi(test_api.url, client=client, doc_url="/big", max_bytes=2**20)
    assert test_api.state["big_sent"] < 50 * 1024 * 1024


async def test_redirect_off_origin_is_not_followed(
    test_api: Any, other_api: Any, client: Any
) -> None:
    with pytest.raises(DiscoveryError, match="redirected to another host"):
        await discover_openapi(
            test_api.url, client=client, doc_url=f"/redirect?to={other_api.url}/openapi.json"
        )
    assert other_api.seen == []


async def test_unreachable_service(client: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DiscoveryError) as caught:
        await discover_openapi(f"http://127.0.0.1:{port}", client=client)
    assert str(caught.value) == f"could not reach http://127.0.0.1:{port}: connection refused"


async def test_metadata_and_userinfo_refused(client: Any) -> None:
    with pytest.raises(DiscoveryError, match="metadata"):
        await discover_openapi("http://169.254.169.254", client=client)
    with pytest.raises(ValueError, match="credentials in the URL are not allowed"):
        await discover_openapi("http://admin:pw@127.0.0.1:1", client=client)
