"""OpenAPI 2.0 / 3.0 / 3.1 documents, JSON or YAML, reduced to callable operations.

Local ``$ref``s are resolved: schemas are inlined with a per-ref cache, a recursive ref is cut
with ``{"description": "recursive: <ref>"}`` and each top-level schema is capped at a node
budget, so neither cycles nor shared-subtree explosions can run away. External refs (other
files or URLs) are never fetched; they become an opaque stub. Schemas come out in JSON Schema
2020-12 terms (3.0's ``nullable`` and boolean ``exclusiveMinimum`` are translated).

Which base URL calls go to (see ``call_base_url``): the document's server when it is on the
registered base URL's origin (a relative server always is), otherwise the registered base
URL. A document can add a path prefix; it can never move calls to another host.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import yaml

from piloto.services.models import OperationSpec, ParamSpec, ParsedSpec, Risk
from piloto.services.netguard import AddressRefused
from piloto.services.transport import RedirectRefused, connect_reason, send_capped
from piloto.services.urls import normalize_base_url, same_origin

log = logging.getLogger("piloto.services.openapi")

MAX_SPEC_BYTES = 32 * 1024 * 1024
DISCOVERY_PATHS = (
    "/openapi.json",
    "/openapi.yaml",
    "/swagger.json",
    "/swagger.yaml",
    "/v3/api-docs",
    "/api-docs",
    "/docs/openapi.json",
    "/api/openapi.json",
)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_RISKS: tuple[Risk, ...] = ("read", "write", "destructive")
_SCHEMA_BUDGET = 20_000  # containers inlined per top-level schema
_MAX_YAML_NODES = 10_000_000  # nodes after alias expansion ("billion laughs" guard)
_NAME_MAPS = frozenset({"properties", "patternProperties", "definitions", "$defs"})
_OPAQUE = frozenset({"default", "enum", "const"})
_DROPPED = frozenset({"example", "examples", "xml", "externalDocs"})
_SWAGGER_SCHEMA_KEYS = (
    "type", "format", "items", "enum", "default", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems",
    "uniqueItems", "multipleOf",
)  # fmt: skip


class SpecError(ValueError):
    """A document that is not a usable OpenAPI description; ``where`` says where."""

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(f"{message} at {where}")
        self.message = message
        self.where = where


class DiscoveryError(ValueError):
    """No OpenAPI document could be fetched; the message says what was tried."""


def _ptr(*parts: object) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# --- loading -------------------------------------------------------------------------------


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader that keeps timestamps as strings (they must stay JSON)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _expanded_size(root: Any) -> int:
    """Node count with YAML aliases expanded; memoised, so linear in distinct nodes."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise SpecError("the YAML document refers to itself (recursive alias)", where="/")
        active.add(key)
        children = node.values() if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > _MAX_YAML_NODES:
                raise SpecError(
                    "the YAML document expands to too many nodes (alias bomb?)", where="/"
                )
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _jsonify(node: Any) -> Any:
    """YAML values made JSON-compatible: string keys, dates as ISO strings."""
    if isinstance(node, dict):
        return {str(k): _jsonify(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_jsonify(v) for v in node]
    if isinstance(node, datetime.date | datetime.datetime):
        return node.isoformat()
    if isinstance(node, bytes):
        return node.decode("utf-8", "replace")
    if isinstance(node, float) and node != node:  # NaN is not JSON
        return None
    return node


def _load_document(raw: bytes | str, *, max_bytes: int) -> Any:
    """Parse JSON or YAML text into Python values, refusing binary, HTML and bombs."""
    if isinstance(raw, bytes):
        if len(raw) > max_bytes:
            raise SpecError(f"the document is larger than {max_bytes // 2**20} MiB", where="/")
        nul = raw.find(b"\x00", 0, 4096)
        if nul != -1:
            raise SpecError("the document is binary, not JSON or YAML text", where=f"byte {nul}")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SpecError("the document is not UTF-8 text", where=f"byte {exc.start}") from exc
    else:
        if len(raw) > max_bytes:
            raise SpecError(f"the document is larger than {max_bytes // 2**20} MiB", where="/")
        text = raw
    head = text.lstrip()[:1]
    if not head:
        raise SpecError("the document is empty", where="line 1, column 1")
    if head == "<":
        raise SpecError("this is HTML or XML, not an OpenAPI document", where="line 1, column 1")
    if head in "{[":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            json_error = SpecError(
                f"invalid JSON: {exc.msg}", where=f"line {exc.lineno}, column {exc.colno}"
            )
        except RecursionError as exc:
            raise SpecError("the document is nested too deeply", where="/") from exc
    else:
        json_error = None
    try:
        loaded = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        if json_error is not None:
            raise json_error from exc
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "line 1, column 1"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"invalid YAML: {problem}", where=where) from exc
    except RecursionError as exc:
        raise SpecError("the document is nested too deeply", where="/") from exc
    _expanded_size(loaded)
    return _jsonify(loaded)


# --- $ref resolution -----------------------------------------------------------------------


class _Resolver:
    def __init__(self, doc: dict[str, Any], *, legacy: bool) -> None:
        self._doc = doc
        self._legacy = legacy  # 2.0/3.0 schema dialect, translated to 2020-12
        self._cache: dict[str, tuple[Any, int]] = {}
        self._active: set[str] = set()

    def target(self, ref: str, where: str) -> Any:
        pointer = unquote(ref[1:])
        if not pointer.startswith("/"):
            raise SpecError(f"unsupported $ref {ref!r}", where=where)
        node: Any = self._doc
        for token in pointer[1:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise SpecError(f"$ref {ref!r} points at nothing", where=where)
        return node

    def deref(self, node: Any, where: str) -> Any:
        """Follow a $ref chain on a non-schema object (parameter, request body, path item)."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise SpecError(f"$ref cycle through {ref!r}", where=where)
            seen.add(ref)
            if not ref.startswith("#"):
                return {}
            node = self.target(ref, where)
        return node

    def schema(self, node: Any, where: str) -> dict[str, Any]:
        out = self._walk(node, [_SCHEMA_BUDGET], where)
        if out is True or out is None:
            return {}
        if out is False:
            return {"not": {}}
        return out if isinstance(out, dict) else {}

    def _walk(self, node: Any, budget: list[int], where: str, names: bool = False) -> Any:
        if isinstance(node, list):
            budget[0] -= 1
            return [self._walk(v, budget, where) for v in node]
        if not isinstance(node, dict):
            return node
        if names:  # a name -> schema map: keys are names, not keywords
            budget[0] -= 1
            return {k: self._walk(v, budget, where) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str):
            resolved = self._ref(ref, budget, where)
            extras = {k: v for k, v in node.items() if k != "$ref" and k not in _DROPPED}
            if not extras:
                return resolved
            merged = dict(resolved) if isinstance(resolved, dict) else {}
            for key, value in extras.items():
                merged[key] = self._keyword(key, value, budget, where)
            return merged
        budget[0] -= 1
        if budget[0] < 0:
            return {"description": "schema too large; not expanded"}
        out = {
            k: self._keyword(k, v, budget, where)
            for k, v in node.items()
            if k not in _DROPPED and not k.startswith("x-")
        }
        if self._legacy:
            _modernise(out)
        return out

    def _keyword(self, key: str, value: Any, budget: list[int], where: str) -> Any:
        if key in _OPAQUE:
            return value
        return self._walk(value, budget, where, names=key in _NAME_MAPS)

    def _ref(self, ref: str, budget: list[int], where: str) -> Any:
        if not ref.startswith("#"):
            return {"description": f"external reference (not fetched): {ref}"}
        if ref in self._active:
            return {"description": f"recursive: {ref}"}
        hit = self._cache.get(ref)
        if hit is not None:
            value, size = hit
            if size > budget[0]:
                return {"description": f"not expanded (schema too large): {ref}"}
            budget[0] -= size
            return value
        target = self.target(ref, where)
        before = budget[0]
        self._active.add(ref)
        try:
            value = self._walk(target, budget, where)
        finally:
            self._active.discard(ref)
        if budget[0] >= 0:  # a truncated expansion depends on its context: not cached
            self._cache[ref] = (value, before - budget[0])
        return value


def _modernise(schema: dict[str, Any]) -> None:
    """Translate OpenAPI 2.0/3.0 schema keywords into JSON Schema 2020-12, in place."""
    if schema.get("type") == "file":
        schema["type"] = "string"
        schema.setdefault("format", "binary")
    if schema.pop("nullable", False) is True:
        kind = schema.get("type")
        if isinstance(kind, str):
            schema["type"] = [kind, "null"]
        if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = schema.get(exclusive)
        if isinstance(flag, bool):
            del schema[exclusive]
            if flag and bound in schema:
                schema[exclusive] = schema.pop(bound)


# --- operations ----------------------------------------------------------------------------


def _spec_version(doc: dict[str, Any]) -> str:
    if "swagger" in doc:
        version = str(doc["swagger"])
        if version not in ("2.0", "2"):
            raise SpecError(f"unsupported Swagger version {version!r}", where="/swagger")
        return "2.0"
    if "openapi" in doc:
        version = str(doc["openapi"])
        if version.startswith(("3.0", "3.1")):
            return version
        raise SpecError(f"unsupported OpenAPI version {version!r}", where="/openapi")
    if "swaggerVersion" in doc:
        raise SpecError("Swagger 1.x documents are not supported", where="/swaggerVersion")
    raise SpecError("not an OpenAPI document: no `openapi` or `swagger` field", where="/")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _param_schema(
    param: dict[str, Any], resolver: _Resolver, swagger: bool, where: str
) -> dict[str, Any]:
    if "schema" in param:
        return resolver.schema(param["schema"], where + "/schema")
    if isinstance(param.get("content"), dict) and param["content"]:
        media = next(iter(param["content"].values()))
        if isinstance(media, dict):
            return resolver.schema(media.get("schema", {}), where + "/content")
    if swagger:
        raw = {k: param[k] for k in _SWAGGER_SCHEMA_KEYS if k in param}
        return resolver.schema(raw, where)
    return {}


def _pick_media(content: Any) -> tuple[str, Any] | None:
    if not isinstance(content, dict) or not content:
        return None
    for media in content:
        if media.split(";")[0].strip().lower() == "application/json":
            return "application/json", content[media]
    for media in content:
        if "json" in media.lower():
            return "application/json", content[media]
    for media in content:
        if media.lower().startswith("application/x-www-form-urlencoded"):
            return "application/x-www-form-urlencoded", content[media]
    media = next(iter(content))
    return str(media).split(";")[0].strip(), content[media]


def _risk(method: str, op: dict[str, Any], where: str) -> Risk:
    """The method's risk, raised (never lowered) by the document's ``x-piloto-risk``.

    A service describes itself: it may say an operation is riskier than its method, never
    that a POST is a read; only an admin's override can lower a risk.
    """
    default: Risk = "read" if method in _READ_METHODS else "write"
    if method == "DELETE" or op.get("x-piloto-destructive") is True:
        default = "destructive"
    declared = op.get("x-piloto-risk")
    if declared is None:
        return default
    if declared not in _RISKS:
        raise SpecError(
            "x-piloto-risk must be read, write or destructive", where=where + "/x-piloto-risk"
        )
    return max(default, declared, key=_RISKS.index)


def _command_field(
    op: dict[str, Any], body_schema: dict[str, Any] | None, where: str
) -> str | None:
    """The body property ``x-piloto-command-field`` names as carrying a shell command."""
    field = op.get("x-piloto-command-field")
    if field is None:
        return None
    props = (body_schema or {}).get("properties") or {}
    if not isinstance(field, str) or field not in props:
        raise SpecError(
            "x-piloto-command-field must name a property of the request body",
            where=where + "/x-piloto-command-field",
        )
    return field


def _operation(
    doc: dict[str, Any],
    resolver: _Resolver,
    path: str,
    method: str,
    op: dict[str, Any],
    common: list[Any],
    swagger: bool,
    where: str,
) -> OperationSpec:
    merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for source, base in ((common, _ptr("paths", path, "parameters")), (op.get("parameters"), "")):
        if source is None:
            continue
        base = base or where + "/parameters"
        if not isinstance(source, list):
            raise SpecError("`parameters` must be a list", where=base)
        for i, raw in enumerate(source):
            p = resolver.deref(raw, f"{base}/{i}")
            if not isinstance(p, dict) or not p:
                continue
            if not isinstance(p.get("name"), str) or not isinstance(p.get("in"), str):
                raise SpecError("a parameter needs `name` and `in`", where=f"{base}/{i}")
            merged[(p["name"], p["in"])] = (p, f"{base}/{i}")
    params: list[ParamSpec] = []
    body_schema: dict[str, Any] | None = None
    body_required = False
    media: str | None = None
    form: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for (name, location), (p, pwhere) in merged.items():
        if location == "body" and swagger:
            body_schema = resolver.schema(p.get("schema", {}), pwhere + "/schema")
            body_required = bool(p.get("required", False))
            consumes = op.get("consumes") or doc.get("consumes") or ["application/json"]
            media = next((c for c in consumes if "json" in str(c)), "application/json")
        elif location == "formData" and swagger:
            form["properties"][name] = _param_schema(p, resolver, swagger, pwhere)
            if p.get("required"):
                form["required"].append(name)
            media = "application/x-www-form-urlencoded"
        elif location in ("path", "query", "header", "cookie"):
            params.append(
                ParamSpec(
                    name=name,
                    location=location,
                    required=location == "path" or bool(p.get("required", False)),
                    schema=_param_schema(p, resolver, swagger, pwhere),
                    description=_text(p.get("description")),
                )
            )
        else:
            raise SpecError(f"unknown parameter location {location!r}", where=pwhere + "/in")
    if form["properties"]:
        body_schema, body_required = form, bool(form["required"])
    request_body = resolver.deref(op.get("requestBody"), where + "/requestBody")
    if isinstance(request_body, dict) and not swagger:
        picked = _pick_media(request_body.get("content"))
        if picked is not None:
            media, media_obj = picked
            raw_schema = media_obj.get("schema", {}) if isinstance(media_obj, dict) else {}
            body_schema = resolver.schema(raw_schema, where + "/requestBody")
            body_required = bool(request_body.get("required", False))
    summary = _text(op.get("summary")) or _text(op.get("description")).strip().split("\n")[0]
    return OperationSpec(
        operation_id=_text(op.get("operationId")) or f"{method} {path}",
        method=method,
        path=path,
        summary=summary[:300],
        parameters=params,
        body_schema=body_schema,
        body_required=body_required,
        body_media_type=media if body_schema is not None else None,
        risk=_risk(method, op, where),
        idempotent=method in _READ_METHODS,
        command_field=_command_field(op, body_schema, where),
    )


def _server_url(doc: dict[str, Any], swagger: bool, source_url: str | None) -> str | None:
    if swagger:
        host, base_path = doc.get("host"), _text(doc.get("basePath")) or "/"
        if isinstance(host, str) and host:
            schemes = doc.get("schemes") or []
            scheme = next((s for s in ("https", "http") if s in schemes), None)
            if scheme is None:
                scheme = source_url.split(":", 1)[0] if source_url else "https"
            url = f"{scheme}://{host}{base_path}"
        else:
            url = urljoin(source_url, base_path) if source_url else base_path
    else:
        servers = doc.get("servers")
        server = servers[0] if isinstance(servers, list) and servers else {"url": "/"}
        url = _text(server.get("url") if isinstance(server, dict) else None) or "/"
        variables = server.get("variables") if isinstance(server, dict) else None
        for name, var in (variables or {}).items():
            if isinstance(var, dict) and "default" in var:
                url = url.replace("{" + str(name) + "}", str(var["default"]))
        if source_url:
            url = urljoin(source_url, url)
        elif not url.startswith(("http://", "https://")):
            return None if url == "/" else url.rstrip("/")
    return url.rstrip("/") or None


def parse_openapi(
    raw: bytes | str | dict[str, Any],
    *,
    source_url: str | None = None,
    max_bytes: int = MAX_SPEC_BYTES,
) -> ParsedSpec:
    """Parse an OpenAPI 2.0/3.0/3.1 document (JSON or YAML) into its callable operations."""
    doc = raw if isinstance(raw, dict) else _load_document(raw, max_bytes=max_bytes)
    if not isinstance(doc, dict):
        kind = type(doc).__name__ if doc is not None else "empty"
        raise SpecError(f"the document is a {kind}, not an OpenAPI object", where="/")
    version = _spec_version(doc)
    swagger = version == "2.0"
    resolver = _Resolver(doc, legacy=not version.startswith("3.1"))
    paths = doc.get("paths")
    if paths is None and version.startswith("3.1") and ("webhooks" in doc or "components" in doc):
        paths = {}
    if paths is None:
        raise SpecError("the document has no `paths`", where="/paths")
    if not isinstance(paths, dict):
        raise SpecError("`paths` must be a mapping of path to operations", where="/paths")
    operations: list[OperationSpec] = []
    seen: set[str] = set()
    try:
        for path, raw_item in paths.items():
            pwhere = _ptr("paths", path)
            if not path.startswith("/"):
                raise SpecError("a path must start with `/`", where=pwhere)
            segments = path.split("?")[0].split("/")
            if "." in segments or ".." in segments or "?" in path or "#" in path:
                log.warning("skipping path with dot segments or query: %r", path)
                continue
            item = resolver.deref(raw_item, pwhere)
            if not isinstance(item, dict):
                raise SpecError("a path item must be a mapping", where=pwhere)
            for method in _METHODS:
                op = item.get(method)
                if op is None:
                    continue
                owhere = f"{pwhere}/{method}"
                if not isinstance(op, dict):
                    raise SpecError("an operation must be a mapping", where=owhere)
                spec = _operation(
                    doc, resolver, path, method.upper(), op, item.get("parameters") or [],
                    swagger, owhere,
                )  # fmt: skip
                if spec.operation_id in seen:  # duplicate operationIds: keep both, distinctly
                    spec.operation_id = f"{spec.method} {spec.path}"
                seen.add(spec.operation_id)
                operations.append(spec)
    except RecursionError as exc:
        raise SpecError("the document is nested too deeply", where="/paths") from exc
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    assert isinstance(info, dict)
    return ParsedSpec(
        title=str(info.get("title") or "untitled"),
        version=str(info.get("version") or ""),
        spec_version=version,
        server_url=_server_url(doc, swagger, source_url),
        operations=operations,
    )


def call_base_url(registered_base_url: str, spec: ParsedSpec) -> str:
    """The base URL calls go to: the document's server when it is on the registered origin
    and under the registered path, else the registered base URL (a document never moves
    calls to another host, nor out of the path the admin registered)."""
    base = normalize_base_url(registered_base_url)
    server = spec.server_url
    if server is None:
        return base
    if not server.startswith(("http://", "https://")):
        return base + "/" + server.strip("/") if server.strip("/") else base
    try:
        candidate = normalize_base_url(server)
    except ValueError:
        return base
    if not same_origin(candidate, base):
        return base
    base_path = urlsplit(base).path.rstrip("/") + "/"
    candidate_path = urlsplit(candidate).path.rstrip("/") + "/"
    segments = candidate_path.split("/")
    if "." in segments or ".." in segments or not candidate_path.startswith(base_path):
        return base
    return candidate


# --- discovery -----------------------------------------------------------------------------


def _looks_like_html(content_type: str, body: bytes) -> bool:
    return "html" in content_type.lower() or body.lstrip()[:1] == b"<"


async def discover_openapi(
    base_url: str,
    *,
    client: httpx.AsyncClient,
    doc_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_SPEC_BYTES,
) -> tuple[str, ParsedSpec]:
    """Find and parse a service's OpenAPI document; returns (document URL, spec).

    Credentials (``headers``) are sent only to the base URL's origin. Raises DiscoveryError
    when nothing usable was found and SpecError when a document was found but is broken.
    """
    base = normalize_base_url(base_url)
    explicit = doc_url is not None
    candidates = [urljoin(base + "/", doc_url)] if doc_url else [base + p for p in DISCOVERY_PATHS]
    tried: list[str] = []
    for url in candidates:
        label = url[len(base) :] if url.startswith(base) else url
        send_headers = {"Accept": "application/json, application/yaml;q=0.9, */*;q=0.5"}
        if headers and same_origin(url, base):
            send_headers.update(headers)
        try:
            request = client.build_request("GET", url, headers=send_headers)
            fetched = await send_capped(client, request, origin_url=url, max_bytes=max_bytes)
        except AddressRefused as exc:
            raise DiscoveryError(str(exc)) from exc
        except RedirectRefused as exc:
            tried.append(f"{label} ({exc})")
            continue
        except httpx.TimeoutException as exc:
            raise DiscoveryError(f"could not reach {base}: timed out") from exc
        except httpx.ConnectError as exc:
            raise DiscoveryError(f"could not reach {base}: {connect_reason(exc)}") from exc
        except httpx.HTTPError as exc:
            raise DiscoveryError(f"could not fetch {url}: {type(exc).__name__}") from exc
        if fetched.truncated:
            raise DiscoveryError(
                f"the document at {url} is larger than the {max_bytes // 2**20} MiB limit"
            )
        content_type = fetched.headers.get("content-type", "")
        if fetched.status_code >= 300:
            tried.append(f"{label} ({fetched.status_code})")
            continue
        if _looks_like_html(content_type, fetched.content):
            if explicit:
                raise SpecError(
                    f"{url} returned HTML, not an OpenAPI document", where="line 1, column 1"
                )
            tried.append(f"{label} (HTML)")
            continue
        # Loading and parsing are CPU-bound (GitHub's 13 MB document blocks ~0.7 s): off the loop.
        if not explicit:
            try:
                loaded = await asyncio.to_thread(
                    _load_document, fetched.content, max_bytes=max_bytes
                )
            except SpecError:
                tried.append(f"{label} (not JSON or YAML)")
                continue
            if not isinstance(loaded, dict) or not ({"openapi", "swagger"} & loaded.keys()):
                tried.append(f"{label} (not OpenAPI)")
                continue
            spec = await asyncio.to_thread(parse_openapi, loaded, source_url=fetched.url)
            return fetched.url, spec
        spec = await asyncio.to_thread(parse_openapi, fetched.content, source_url=fetched.url)
        return fetched.url, spec
    hint = ""
    if any("(401)" in t or "(403)" in t for t in tried):
        hint = "; the server refused access (401/403): check the service's credentials"
    raise DiscoveryError(f"no OpenAPI document found at {base}; tried {', '.join(tried)}{hint}")
