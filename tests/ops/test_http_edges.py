"""The app's HTTP edges: request body limits enforced while streaming, /metrics behind a
token, and no /docs page that would load scripts from a CDN."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
from pydantic import SecretStr
from tests.conftest import make_token

from piloto.app import create_app
from piloto.settings import Settings

MIB = 1024 * 1024


async def test_a_20_mb_body_is_refused_with_413(app_client: httpx.AsyncClient) -> None:
    resp = await app_client.post(
        "/api/projects",
        content=b'{"name": "' + b"x" * (20 * MIB) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    body = resp.json()
    assert "1 MiB" in body["detail"] and "PILOTO_MAX_BODY_BYTES" in body["detail"]
    assert body["code"] == "too_large"


async def test_a_streamed_body_is_cut_off_without_reading_it_all(
    app_client: httpx.AsyncClient,
) -> None:
    """No Content-Length (chunked): the limit is counted as the body arrives."""
    pulled = 0
    chunk = b"x" * 65536

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b'{"name": "'
        for _ in range(20 * MIB // len(chunk)):
            pulled += len(chunk)
            yield chunk
        yield b'"}'

    resp = await app_client.post(
        "/api/projects", content=body(), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 413, resp.text
    assert pulled < 2 * MIB, f"read {pulled} bytes of a body refused at 1 MiB"


async def test_documents_have_their_own_larger_limit(app_client: httpx.AsyncClient) -> None:
    document = json.dumps(
        {
            "openapi": "3.0.3",
            "info": {"title": "big", "version": "1", "description": "d" * (2 * MIB)},
            "paths": {},
        }
    )
    resp = await app_client.post(
        "/api/services",
        json={
            "name": "big", "kind": "openapi", "base_url": "http://127.0.0.1:9",
            "document": document, "allow_offline": True,
        },
    )  # fmt: skip
    assert resp.status_code != 413, resp.text
    small = await app_client.post("/api/projects", json={"name": "n" * (2 * MIB)})
    assert small.status_code == 413


async def test_metrics_token_and_public_switch(settings: Settings) -> None:
    for public in (False, True):
        app = create_app(
            settings.model_copy(
                update={
                    "metrics_token": SecretStr("scrape-token-abcdef"),
                    "metrics_public": public,
                }
            )
        )
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            anonymous = await c.get("/metrics")
            assert anonymous.status_code == (200 if public else 401)
            wrong = await c.get("/metrics", headers={"Authorization": "Bearer nope-nope"})
            assert wrong.status_code == (200 if public else 401)
            scraper = await c.get(
                "/metrics", headers={"Authorization": "Bearer scrape-token-abcdef"}
            )
            assert scraper.status_code == 200 and "piloto_runs" in scraper.text


async def test_no_docs_page_and_the_schema_stays(app_client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        assert (await app_client.get(path)).status_code == 404
    schema = await app_client.get("/openapi.json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Piloto"
    operator = await make_token(app_client, "operator")
    resp = await app_client.get("/metrics", headers={"Authorization": f"Bearer {operator}"})
    assert resp.status_code == 403 and "admin" in resp.json()["detail"]


async def test_the_413_speaks_the_instances_language(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"language": "es"}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        resp = await c.post("/api/projects", content=b"x" * (2 * MIB))
    assert resp.status_code == 413 and "supera el límite de 1 MiB" in resp.json()["detail"]
