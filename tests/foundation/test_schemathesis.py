"""Property-based fuzzing of every route of the app's own OpenAPI document: never a 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from tests.conftest import ADMIN_TOKEN
from tests.support.live import live_server

from piloto.settings import Settings

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    """The app on a loopback port, served from its own thread and event loop."""
    ready = threading.Event()
    stop = threading.Event()
    box: dict[str, str] = {}

    async def main() -> None:
        async with live_server(settings) as url:
            box["url"] = url
            ready.set()
            while not stop.is_set():  # noqa: ASYNC110 - a threading.Event set from another thread
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield box["url"]
    finally:
        stop.set()
        thread.join(30)


@pytest.mark.slow
def test_no_route_answers_5xx(served: str) -> None:
    import httpx

    # Real ids to hit, so the fuzzer reaches past the 404s too.
    with httpx.Client(base_url=served, headers=AUTH) as client:
        pid = client.post("/api/projects", json={"name": "fuzz"}).json()["id"]
        client.post("/api/chats", json={"project_id": pid, "title": "fuzz"})
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    failures: list[str] = []
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hsettings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=served, headers=AUTH, timeout=30)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.body!r} -> {response.status_code} {response.text[:200]}"
                )

        check()
    assert not failures, "\n".join(failures[:20])
    assert len(calls) > 200, len(calls)  # the fuzzer really ran
