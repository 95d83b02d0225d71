"""invoke_http against a real FastAPI server on loopback: path templates hold, redirects stay
on the origin, responses are capped, slow services time out, bad arguments never leave."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from piloto.services.arguments import InvalidArguments, build_request
from piloto.services.invoke import HttpTarget, invoke_http
from piloto.services.models import OperationSpec, ParamSpec
from piloto.services.netguard import NetPolicy, guarded_client


def op(path: str, method: str = "GET", **kw: Any) -> OperationSpec:
    params = [
        ParamSpec(name=name[1:-1], location="path", required=True, schema={"type": "string"})
        for name in path.split("/")
        if name.startswith("{")
    ]
    params += kw.pop("extra_params", [])
    return OperationSpec(
        operation_id=kw.pop("operation_id", f"{method} {path}"), method=method, path=path,
        parameters=params, risk="read" if method == "GET" else "write",
        idempotent=method == "GET", **kw,
    )  # fmt: skip


COMMAND = op(
    "/command",
    "POST",
    body_schema={"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
    body_required=True,
    body_media_type="application/json",
)
JSON_OP = op(
    "/json",
    extra_params=[
        ParamSpec(name="per_page", location="query", required=False, schema={"type": "integer"}),
        ParamSpec(name="tags", location="query", required=False, schema={"type": "array"}),
    ],
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(NetPolicy(), timeout=10) as c:
        yield c


def target(server: Any, **kw: Any) -> HttpTarget:
    return HttpTarget(base_url=server.url, **kw)


# --- building (no I/O) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("../../admin", "..%2F..%2Fadmin"),
        ("%2e%2e%2f", "%252e%252e%252f"),
        ("/etc/passwd", "%2Fetc%2Fpasswd"),
        ("a?b#c", "a%3Fb%23c"),
        ("..\\..\\x", "..%5C..%5Cx"),
        ("naïve space", "na%C3%AFve%20space"),
    ],
)
def test_path_params_cannot_leave_the_template(value: str, encoded: str) -> None:
    path, _, _, _ = build_request(op("/items/{item_id}"), {"item_id": value})
    assert path == f"/items/{encoded}"


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_dot_and_empty_path_params_refused(value: str) -> None:
    with pytest.raises(InvalidArguments, match="item_id"):
        build_request(op("/items/{item_id}"), {"item_id": value})


def test_argument_errors_are_listed() -> None:
    with pytest.raises(InvalidArguments) as caught:
        build_request(JSON_OP, {"per_page": "ten", "verbose": True})
    message = str(caught.value)
    assert "`per_page` must be an integer" in message
    assert "unknown argument `verbose`" in message
    with pytest.raises(InvalidArguments, match="missing required argument `item_id`"):
        build_request(op("/items/{item_id}"), {})
    with pytest.raises(InvalidArguments, match="JSON object"):
        build_request(JSON_OP, ["not", "a", "mapping"])  # type: ignore[arg-type]


def test_body_conventions() -> None:
    assert build_request(COMMAND, {"cmd": "uname -a"})[3] == {"cmd": "uname -a"}
    assert build_request(COMMAND, {"body": {"cmd": "id"}})[3] == {"cmd": "id"}
    with pytest.raises(InvalidArguments, match="missing the required request body"):
        build_request(COMMAND, {})
    with pytest.raises(InvalidArguments, match="cmd"):
        build_request(COMMAND, {"cmd": 5})
    with pytest.raises(InvalidArguments, match="unknown argument `body`"):
        build_request(JSON_OP, {"body": {"x": 1}})
    # a body property named "body" (GitHub's issues) is that property, not the whole body
    issue = op(
        "/issues", "POST",
        body_schema={"type": "object", "properties": {"title": {"type": "string"},
                                                      "body": {"type": "string"}}},
    )  # fmt: skip
    assert build_request(issue, {"title": "t", "body": "text"})[3] == {"title": "t", "body": "text"}


def test_header_params_cannot_inject_lines() -> None:
    spec = op(
        "/json",
        extra_params=[ParamSpec(name="X-Trace", location="header", required=True, schema={})],
    )
    with pytest.raises(InvalidArguments, match="line breaks"):
        build_request(spec, {"X-Trace": "a\r\nHost: evil"})


# --- invoking (real HTTP) ------------------------------------------------------------------


async def test_traversal_arrives_encoded_at_the_server(test_api: Any, client: Any) -> None:
    for value in ("../../admin", "%2e%2e%2f", "/etc/passwd", "..%2F..%2Fadmin"):
        result = await invoke_http(
            target(test_api), op("/items/{item_id}"), {"item_id": value}, client=client
        )
        assert result.ok, result.error
        assert result.body == {"item_id": value}
    raw_paths = [seen["raw_path"] for seen in test_api.seen]
    assert raw_paths == [
        "/items/..%2F..%2Fadmin",
        "/items/%252e%252e%252f",
        "/items/%2Fetc%2Fpasswd",
        "/items/..%252F..%252Fadmin",
    ]


async def test_base_path_prefix_is_kept(test_api: Any, client: Any) -> None:
    spec = op("/{name}/raw")
    result = await invoke_http(
        HttpTarget(base_url=test_api.url + "/files"), spec, {"name": "../x"}, client=client
    )
    assert result.ok and test_api.seen[-1]["raw_path"] == "/files/..%2Fx/raw"


async def test_query_json_and_credentials(
    test_api: Any, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "tok-SECRET-123"
    result = await invoke_http(
        target(test_api, headers={"Authorization": f"Bearer {secret}"}, service="api"),
        JSON_OP,
        {"per_page": 10, "tags": ["a", "b"]},
        client=client,
        idempotency_key="run1:step1",
    )
    assert result.ok and result.status_code == 200
    assert result.body["query"] == {"per_page": "10", "tags": "b"}
    seen = test_api.seen[-1]
    assert seen["query"] == "per_page=10&tags=a&tags=b"
    assert seen["headers"]["authorization"] == f"Bearer {secret}"
    assert seen["headers"]["idempotency-key"] == "run1:step1"
    records = [r for r in caplog.records if r.name == "piloto.invoke"]
    assert len(records) == 1
    record = records[0]
    assert (record.service, record.operation, record.status) == ("api", "GET /json", 200)  # type: ignore[attr-defined]
    assert secret not in caplog.text and secret not in repr(record.__dict__)
    assert secret not in repr(target(test_api, headers={"Authorization": secret}))


async def test_post_body_from_flat_arguments(test_api: Any, client: Any) -> None:
    result = await invoke_http(target(test_api), COMMAND, {"cmd": "uname -a"}, client=client)
    assert result.ok and result.body == {"ran": {"cmd": "uname -a"}}


async def test_invalid_arguments_send_nothing(test_api: Any, client: Any) -> None:
    with pytest.raises(InvalidArguments):
        await invoke_http(target(test_api), JSON_OP, {"nope": 1}, client=client)
    with pytest.raises(InvalidArguments):
        await invoke_http(target(test_api), COMMAND, {"cmd": ["rm", "-rf"]}, client=client)
    assert test_api.seen == []


async def test_error_status_is_not_ok(test_api: Any, client: Any) -> None:
    result = await invoke_http(target(test_api), op("/teapot"), {}, client=client)
    assert not result.ok and result.status_code == 418
    assert result.body == {"error": "short and stout"}
    assert result.error == "the service answered 418 I'm a Teapot"


def redirect_op() -> OperationSpec:
    return op(
        "/redirect",
        extra_params=[
            ParamSpec(name="to", location="query", required=True, schema={"type": "string"}),
            ParamSpec(name="code", location="query", required=False, schema={"type": "integer"}),
        ],
    )


async def test_same_origin_redirect_is_followed(test_api: Any, client: Any) -> None:
    result = await invoke_http(target(test_api), redirect_op(), {"to": "/json?x=1"}, client=client)
    assert result.ok and result.body["query"] == {"x": "1"}
    assert [s["raw_path"] for s in test_api.seen] == ["/redirect", "/json"]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_redirect_to_another_host_is_refused(
    test_api: Any, other_api: Any, client: Any, code: int
) -> None:
    result = await invoke_http(
        target(test_api), redirect_op(), {"to": other_api.url + "/json", "code": code},
        client=client,
    )  # fmt: skip
    assert not result.ok
    assert result.error == f"refused: the service redirected to another host ({other_api.url})"
    assert other_api.seen == []


async def test_redirect_to_localhost_is_another_origin(test_api: Any, client: Any) -> None:
    port = test_api.url.rsplit(":", 1)[1]
    result = await invoke_http(
        target(test_api), redirect_op(), {"to": f"http://localhost:{port}/json"}, client=client
    )
    assert not result.ok and "another host" in (result.error or "")
    assert len(test_api.seen) == 1


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://[::ffff:a9fe:a9fe]/",
    ],
)
async def test_redirect_to_metadata_is_refused(test_api: Any, client: Any, location: str) -> None:
    result = await invoke_http(target(test_api), redirect_op(), {"to": location}, client=client)
    assert not result.ok and (result.error or "").startswith("refused:")


async def test_redirect_loop_stops(test_api: Any, client: Any) -> None:
    result = await invoke_http(target(test_api), op("/loop"), {}, client=client, max_redirects=3)
    assert not result.ok and "more than 3 times" in (result.error or "")


async def test_huge_response_is_truncated_at_the_cap(test_api: Any, client: Any) -> None:
    result = await invoke_http(
        target(test_api, max_bytes=256 * 1024), op("/big"), {}, client=client
    )
    assert result.ok and result.truncated
    assert result.bytes == 256 * 1024 and len(result.body) == 256 * 1024
    # the client stopped reading: the server never got to produce all 50 MB
    assert test_api.state["big_sent"] < 50 * 1024 * 1024


async def test_slow_response_times_out(test_api: Any, client: Any) -> None:
    result = await invoke_http(target(test_api, timeout_s=0.3), op("/slow"), {}, client=client)
    assert not result.ok and result.status_code is None
    assert result.error == "timed out after 0.3 s"


async def test_connection_refused_is_a_sentence(client: Any) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await invoke_http(
        HttpTarget(base_url=f"http://127.0.0.1:{port}"), op("/json"), {}, client=client
    )
    assert not result.ok
    assert result.error == f"could not connect to http://127.0.0.1:{port}: connection refused"


async def test_metadata_base_url_refused(client: Any) -> None:
    result = await invoke_http(
        HttpTarget(base_url="http://169.254.169.254"), op("/latest"), {}, client=client
    )
    assert not result.ok and "metadata" in (result.error or "")
