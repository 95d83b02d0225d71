"""parse_openapi on real documents and on hostile ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.specs import GITHUB_API, NEEDS_GITHUB_API, OAI

from piloto.services.openapi import SpecError, call_base_url, parse_openapi


def ops_by_id(raw: bytes | str | dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {op.operation_id: op for op in parse_openapi(raw, **kw).operations}


@NEEDS_GITHUB_API
def test_github_api_has_1223_operations() -> None:
    spec = parse_openapi(GITHUB_API.read_bytes())
    assert len(spec.operations) == 1223
    assert spec.spec_version == "3.0.3"
    assert spec.server_url == "https://api.github.com"
    ops = {op.operation_id: op for op in spec.operations}
    create = ops["issues/create"]
    assert (create.method, create.path, create.risk) == (
        "POST",
        "/repos/{owner}/{repo}/issues",
        "write",
    )
    assert [p.name for p in create.parameters] == ["owner", "repo"]
    assert create.body_schema is not None and "title" in create.body_schema["properties"]
    assert ops["repos/delete"].risk == "destructive"
    assert ops["repos/get"].idempotent and not create.idempotent
    json.dumps(spec.model_dump(mode="json"))  # storable as JSON
    assert len({op.operation_id for op in spec.operations}) == 1223


def test_petstore() -> None:
    spec = parse_openapi((OAI / "petstore.yaml").read_bytes())
    ops = {op.operation_id: op for op in spec.operations}
    assert set(ops) == {"listPets", "createPets", "showPetById"}
    assert (ops["listPets"].risk, ops["createPets"].risk, ops["showPetById"].risk) == (
        "read", "write", "read",
    )  # fmt: skip
    limit = ops["listPets"].parameters[0]
    assert (limit.name, limit.location, limit.required) == ("limit", "query", False)
    assert limit.schema_["type"] == "integer"
    assert ops["showPetById"].parameters[0].model_dump()["schema"] == {"type": "string"}
    assert spec.server_url == "http://petstore.swagger.io/v1"


def test_petstore_expanded_delete_is_destructive() -> None:
    ops = ops_by_id((OAI / "petstore-expanded.yaml").read_bytes())
    assert ops["deletePet"].method == "DELETE" and ops["deletePet"].risk == "destructive"
    add = ops["addPet"]
    assert add.body_required and add.body_schema is not None
    assert add.body_schema["required"] == ["name"] and "tag" in add.body_schema["properties"]


def test_uspto_server_variables() -> None:
    spec = parse_openapi((OAI / "uspto.yaml").read_bytes())
    assert spec.server_url == "https://developer.uspto.gov/ds-api"
    search = {op.operation_id: op for op in spec.operations}["perform-search"]
    assert search.body_media_type == "application/x-www-form-urlencoded"
    assert search.body_schema is not None and "criteria" in search.body_schema["properties"]


def test_callback_and_link_examples() -> None:
    callback = ops_by_id((OAI / "callback-example.yaml").read_bytes())
    assert list(callback) == ["POST /streams"]  # callbacks are not operations Piloto calls
    links = ops_by_id((OAI / "link-example.yaml").read_bytes())
    assert links["mergePullRequest"].risk == "write"
    assert links["getRepository"].path == "/2.0/repositories/{username}/{slug}"


def test_api_with_examples_and_relative_server() -> None:
    spec = parse_openapi(
        (OAI / "api-with-examples.yaml").read_bytes(), source_url="http://127.0.0.1:8/docs/a.yaml"
    )
    assert spec.server_url == "http://127.0.0.1:8"
    assert {op.path for op in spec.operations} == {"/", "/v2"}


def swagger(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def test_swagger_2_body_form_and_path_level_params() -> None:
    doc = swagger(
        {
            "/pets/{id}": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "type": "integer"},
                    {"name": "trace", "in": "header", "type": "string"},
                ],
                "put": {
                    "operationId": "updatePet",
                    "parameters": [
                        {"name": "trace", "in": "header", "type": "string", "required": True},
                        {
                            "name": "pet",
                            "in": "body",
                            "required": True,
                            "schema": {"$ref": "#/definitions/Pet"},
                        },
                    ],
                },
                "post": {
                    "x-piloto-risk": "destructive",
                    "parameters": [{"name": "photo", "in": "formData", "type": "file"}],
                },
            }
        },
        host="api.example.com",
        basePath="/v2",
        schemes=["http", "https"],
        definitions={"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
    )
    spec = parse_openapi(doc)
    assert spec.server_url == "https://api.example.com/v2"
    ops = {op.operation_id: op for op in spec.operations}
    update = ops["updatePet"]
    assert update.risk == "write" and update.body_required
    assert update.body_schema == {"type": "object", "properties": {"name": {"type": "string"}}}
    params = {p.name: p for p in update.parameters}
    assert params["id"].schema_ == {"type": "integer"} and params["id"].required
    assert params["trace"].required  # the operation-level definition wins
    post = ops["POST /pets/{id}"]
    assert post.risk == "destructive"
    assert post.body_schema == {
        "type": "object",
        "properties": {"photo": {"type": "string", "format": "binary"}},
        "required": [],
    }


def test_nullable_and_exclusive_bounds_become_2020_12() -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/x": {"get": {"parameters": [
            {"name": "n", "in": "query",
             "schema": {"type": "integer", "nullable": True, "minimum": 0, "exclusiveMinimum": True}},
        ]}}},
    }  # fmt: skip
    (op,) = parse_openapi(doc).operations
    assert op.parameters[0].schema_ == {"type": ["integer", "null"], "exclusiveMinimum": 0}


REF_LOOP = """
openapi: 3.1.0
info: {title: loop, version: "1"}
paths:
  /nodes:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Node'}
      parameters:
        - $ref: '#/components/parameters/P'
components:
  parameters:
    P: {name: p, in: query, schema: {$ref: '#/components/schemas/A'}}
  schemas:
    Node:
      type: object
      properties:
        children: {type: array, items: {$ref: '#/components/schemas/Node'}}
        self: {$ref: '#/components/schemas/Node'}
    A: {$ref: '#/components/schemas/B'}
    B: {anyOf: [{$ref: '#/components/schemas/A'}, {type: string}]}
"""


def test_ref_loops_are_cut() -> None:
    (op,) = parse_openapi(REF_LOOP).operations
    assert op.body_schema is not None
    children = op.body_schema["properties"]["children"]
    assert children["items"] == {"description": "recursive: #/components/schemas/Node"}
    assert op.parameters[0].schema_["anyOf"][0] == {
        "description": "recursive: #/components/schemas/A"
    }


def test_exponential_ref_fanout_is_bounded() -> None:
    schemas: dict[str, Any] = {"S0": {"type": "string"}}
    for i in range(1, 40):
        ref = {"$ref": f"#/components/schemas/S{i - 1}"}
        schemas[f"S{i}"] = {"type": "object", "properties": {"a": ref, "b": ref, "c": ref}}
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/x": {"post": {"requestBody": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/S39"}}}}}}},
        "components": {"schemas": schemas},
    }  # fmt: skip
    (op,) = parse_openapi(doc).operations
    assert len(json.dumps(op.model_dump(mode="json"))) < 5_000_000
    assert "not expanded" in json.dumps(op.body_schema)


def test_external_refs_are_opaque_stubs() -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/x": {"post": {"requestBody": {"content": {"application/json": {
            "schema": {"$ref": "https://evil.example/schema.json#/Pet"}}}}}}},
    }  # fmt: skip
    (op,) = parse_openapi(doc).operations
    assert op.body_schema == {
        "description": "external reference (not fetched): https://evil.example/schema.json#/Pet"
    }


def test_twenty_megabyte_spec_parses() -> None:
    paths = {
        f"/resource{i}/{{id}}/sub": {
            "get": {
                "operationId": f"get{i}",
                "description": "x" * 400,
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "string", "description": "y" * 300}}],
            },
            "delete": {"operationId": f"delete{i}"},
        }
        for i in range(23_000)
    }  # fmt: skip
    raw = json.dumps({"openapi": "3.0.0", "info": {"title": "big", "version": "1"}, "paths": paths})
    assert len(raw) > 20 * 1024 * 1024
    spec = parse_openapi(raw.encode())
    assert len(spec.operations) == 46_000


@pytest.mark.parametrize(
    ("raw", "message", "where"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary", "byte 8"),
        (b"\xff\xfe\xfd garbage", "not UTF-8", "byte 0"),
        (b"<!doctype html><html><body>Swagger UI</body></html>", "HTML", "line 1, column 1"),
        (b"[1, 2, 3]", "list, not an OpenAPI object", "/"),
        (b'"just a string"', "str, not an OpenAPI object", "/"),
        (b"", "empty", "line 1, column 1"),
        (b'{"openapi": "3.0.0", "info": {}, "paths": {', "invalid JSON", "line 1, column"),
        (b"openapi: 3.0.0\npaths:\n  /x: [unclosed\n", "invalid YAML", "line 4, column 1"),
        (b'{"openapi": "3.0.0", "info": {"title": "t", "version": "1"}}', "no `paths`", "/paths"),
        (b'{"openapi": "3.0.0", "paths": []}', "`paths` must be a mapping", "/paths"),
        (b'{"openapi": "4.0.0", "paths": {}}', "unsupported OpenAPI version", "/openapi"),
        (b'{"swaggerVersion": "1.2", "apis": []}', "Swagger 1.x", "/swaggerVersion"),
        (b'{"info": {"title": "not openapi"}}', "no `openapi` or `swagger`", "/"),
        (b'{"openapi": "3.0.0", "paths": {"/x": {"get": "nope"}}}', "mapping", "/paths/~1x/get"),
        (b'{"openapi": "3.0.0", "paths": {"x": {}}}', "must start with `/`", "/paths/x"),
        (
            b'{"openapi": "3.0.0", "paths": {"/x": {"get": {"parameters": [{"$ref": "#/nope"}]}}}}',
            "points at nothing",
            "/paths/~1x/get/parameters/0",
        ),
        (
            b'{"openapi": "3.0.0", "paths": {"/x": {"get": {"x-piloto-risk": "harmless"}}}}',
            "x-piloto-risk",
            "/paths/~1x/get/x-piloto-risk",
        ),
    ],
)
def test_garbage_is_a_spec_error_with_where(raw: bytes, message: str, where: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_openapi(raw)
    assert message in caught.value.message
    assert caught.value.where.startswith(where)
    assert str(caught.value) == f"{caught.value.message} at {caught.value.where}"


def test_yaml_alias_bomb_is_refused() -> None:
    lines = ["openapi: 3.0.0", "info: {title: t, version: '1'}", 'a0: &a0 ["lol"]']
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    lines.append("paths: {/x: {get: {x-bomb: *a11}}}")
    with pytest.raises(SpecError, match="alias bomb"):
        parse_openapi("\n".join(lines))


def test_yaml_python_tags_are_refused() -> None:
    with pytest.raises(SpecError, match="invalid YAML"):
        parse_openapi("openapi: 3.0.0\npaths: !!python/object/apply:os.system ['true']\n")


def test_documents_over_the_byte_cap_are_refused() -> None:
    with pytest.raises(SpecError, match="larger than 1 MiB"):
        parse_openapi(b"{" + b" " * (1024 * 1024) + b"}", max_bytes=1024 * 1024)


def test_yaml_dates_and_integer_keys_stay_json() -> None:
    doc = "openapi: 3.0.0\ninfo: {title: t, version: 2020-01-01}\npaths:\n  /x:\n    get:\n      responses: {200: {description: ok}}\n"
    spec = parse_openapi(doc)
    assert spec.version == "2020-01-01"
    json.dumps(spec.model_dump(mode="json"))


def test_dot_segment_paths_are_skipped() -> None:
    doc = {"openapi": "3.0.0", "paths": {"/a/../admin": {"get": {}}, "/ok": {"get": {}}}}
    assert [op.path for op in parse_openapi(doc).operations] == ["/ok"]


def test_call_base_url_never_leaves_the_registered_origin() -> None:
    spec = parse_openapi((OAI / "petstore.yaml").read_bytes())
    assert call_base_url("http://127.0.0.1:4010", spec) == "http://127.0.0.1:4010"
    same = spec.model_copy(update={"server_url": "http://127.0.0.1:4010/v1"})
    assert call_base_url("http://127.0.0.1:4010", same) == "http://127.0.0.1:4010/v1"
    relative = spec.model_copy(update={"server_url": "/api"})
    assert call_base_url("http://127.0.0.1:4010/", relative) == "http://127.0.0.1:4010/api"
    other = spec.model_copy(update={"server_url": "http://169.254.169.254"})
    assert call_base_url("http://127.0.0.1:4010", other) == "http://127.0.0.1:4010"
