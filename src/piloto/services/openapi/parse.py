"""An OpenAPI 2.0 / 3.0 / 3.1 document reduced to callable operations (pure: no I/O).

Which base URL calls go to (see ``call_base_url``): the document's server when it is on the
registered base URL's origin (a relative server always is), otherwise the registered base
URL. A document can add a path prefix; it can never move calls to another host.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urljoin, urlsplit

from piloto.policy.models import RISK_ORDER, Risk
from piloto.services.models import OperationSpec, ParamSpec, ParsedSpec
from piloto.services.openapi.errors import SpecError, ptr
from piloto.services.openapi.load import MAX_SPEC_BYTES, load_document
from piloto.services.openapi.refs import Resolver
from piloto.services.urls import normalize_base_url, same_origin

log = logging.getLogger("piloto.services.openapi")

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_SWAGGER_SCHEMA_KEYS = (
    "type", "format", "items", "enum", "default", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems",
    "uniqueItems", "multipleOf",
)  # fmt: skip


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
    param: dict[str, Any], resolver: Resolver, swagger: bool, where: str
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
    if declared not in RISK_ORDER:
        raise SpecError(
            "x-piloto-risk must be read, write or destructive", where=where + "/x-piloto-risk"
        )
    return max(default, declared, key=RISK_ORDER.__getitem__)


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
    resolver: Resolver,
    path: str,
    method: str,
    op: dict[str, Any],
    common: list[Any],
    swagger: bool,
    where: str,
) -> OperationSpec:
    merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for source, base in ((common, ptr("paths", path, "parameters")), (op.get("parameters"), "")):
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
    doc = raw if isinstance(raw, dict) else load_document(raw, max_bytes=max_bytes)
    if not isinstance(doc, dict):
        kind = type(doc).__name__ if doc is not None else "empty"
        raise SpecError(f"the document is a {kind}, not an OpenAPI object", where="/")
    version = _spec_version(doc)
    swagger = version == "2.0"
    resolver = Resolver(doc, legacy=not version.startswith("3.1"))
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
            pwhere = ptr("paths", path)
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
