"""Secrets stay secret even when a service echoes them: httpbin reflects the credentials Piloto
sends, and every result leaves ``services`` with them replaced by ``[redacted]``."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote

import httpx
import pytest
from tests.support.registry import invoke, new_project

from piloto.logs import SecretFilter
from piloto.redact import REDACTED, Redactor

API_KEY = "k3y-Sup3r/S3cret+value"
BEARER = "tok-abcdef-0123456789"


def test_redactor_forms() -> None:
    r = Redactor(
        [f"Bearer {BEARER}", API_KEY, "abc", "Basic " + base64.b64encode(b"bob:hunter22").decode()]
    )
    text = " ".join([
        BEARER, API_KEY, quote(API_KEY, safe=""), base64.b64encode(API_KEY.encode()).decode(),
        base64.urlsafe_b64encode(BEARER.encode()).decode().rstrip("="), "hunter22", "abc",
    ])  # fmt: skip
    out = r.text(text)
    assert BEARER not in out and API_KEY not in out and "hunter22" not in out
    assert "S3cret" not in out and out.count(REDACTED) == 6
    assert out.endswith(" abc"), "values under 6 characters are not secrets (they would eat words)"
    assert r.value({API_KEY: [BEARER, 1, None]}) == {REDACTED: [REDACTED, 1, None]}
    assert not Redactor(["short", ""])


def test_cookie_values_are_secrets() -> None:
    r = Redactor(["session=abcdef123456; theme=dark"])
    assert r.text("cookie abcdef123456 theme=dark") == f"cookie {REDACTED} theme=dark"


def test_log_filter_redacts_message_args_and_extras(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("piloto.test.redaction")
    handler_filter = SecretFilter([BEARER])
    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="piloto.test.redaction"):
            logger.info("token %s", BEARER, extra={"detail": {"auth": f"Bearer {BEARER}"}})
    finally:
        caplog.handler.removeFilter(handler_filter)
    record = caplog.records[-1]
    assert BEARER not in record.getMessage() and REDACTED in record.getMessage()
    assert BEARER not in json.dumps(record.__dict__["detail"])


async def _register_httpbin(client: httpx.AsyncClient, httpbin_url: str, pid: str) -> None:
    resp = await client.post(
        "/api/services",
        json={
            "name": "echo", "kind": "openapi", "project_id": pid, "base_url": httpbin_url,
            "doc_url": "/spec.json", "headers": {"X-API-Key": API_KEY}, "bearer_token": BEARER,
        },
    )  # fmt: skip
    assert resp.status_code == 201, resp.text


async def test_echoed_credentials_are_redacted_from_results(
    app_client: httpx.AsyncClient, httpbin_url: str
) -> None:
    pid = await new_project(app_client)
    await _register_httpbin(app_client, httpbin_url, pid)
    headers = await invoke(app_client, pid, "echo", "GET /headers")
    assert headers.ok, headers.error
    dumped = json.dumps(headers.body)
    assert API_KEY not in dumped and BEARER not in dumped
    assert headers.body["headers"]["X-Api-Key"] == REDACTED
    assert headers.body["headers"]["Authorization"] == REDACTED
    anything = await invoke(app_client, pid, "echo", "GET /anything")
    assert anything.ok and API_KEY not in json.dumps(anything.body)
    # httpbin decodes what it is given: the secret comes back from its base64 form too
    encoded = base64.urlsafe_b64encode(API_KEY.encode()).decode()
    decoded = await invoke(app_client, pid, "echo", "GET /base64/{value}", value=encoded)
    assert decoded.ok and API_KEY not in json.dumps(decoded.body) and REDACTED in decoded.body
    # a large body (redacted off the event loop): 100 JSON lines, each echoing the headers
    streamed = await invoke(app_client, pid, "echo", "GET /stream/{n}", n="100")
    assert streamed.ok and streamed.bytes > 32 * 1024, (streamed.error, streamed.bytes)
    assert API_KEY not in json.dumps(streamed.body) and BEARER not in json.dumps(streamed.body)


async def test_the_instances_own_secrets_are_redacted(
    app_client: httpx.AsyncClient, httpbin_url: str
) -> None:
    """A service that prints the admin token (an ``env`` dump, a debug page) shows none."""
    from tests.conftest import ADMIN_TOKEN

    pid = await new_project(app_client)
    await _register_httpbin(app_client, httpbin_url, pid)
    value = base64.urlsafe_b64encode(f"token={ADMIN_TOKEN}".encode()).decode()
    echoed = await invoke(app_client, pid, "echo", "GET /base64/{value}", value=value)
    assert echoed.ok, echoed.error
    assert ADMIN_TOKEN not in json.dumps(echoed.body) and echoed.body == f"token={REDACTED}"


def test_a_secret_cut_by_the_size_cap_leaves_no_prefix() -> None:
    r = Redactor([API_KEY])
    assert r.cut_text("output: " + API_KEY[:9]) == f"output: {REDACTED}"
    assert r.cut_text("output: fine") == "output: fine"


def test_json_log_lines_carry_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """The real pipeline of ``piloto serve``: the JSON formatter on stderr, the filter on it."""
    from piloto.logs import configure_logging, install_secret_filter

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("INFO")
        remove = install_secret_filter([BEARER])
        try:
            logging.getLogger("piloto.test").warning(
                "calling with %s", f"Bearer {BEARER}", extra={"sent": {"auth": BEARER}}
            )
        finally:
            remove()
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert BEARER not in json.dumps(line) and line["msg"] == f"calling with Bearer {REDACTED}"
