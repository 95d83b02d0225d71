"""Local ``$ref`` resolution: schemas inlined with a per-ref cache, recursion cut, each
top-level schema capped at a node budget; external refs become an opaque stub. Schemas come
out in JSON Schema 2020-12 terms (3.0's ``nullable`` and boolean ``exclusiveMinimum``
translated)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from piloto.services.openapi.errors import SpecError

_SCHEMA_BUDGET = 20_000  # containers inlined per top-level schema
_NAME_MAPS = frozenset({"properties", "patternProperties", "definitions", "$defs"})
_OPAQUE = frozenset({"default", "enum", "const"})
_DROPPED = frozenset({"example", "examples", "xml", "externalDocs"})


class Resolver:
    """Resolves a document's local refs; one per document (its cache is per document)."""

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
            modernise(out)
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


def modernise(schema: dict[str, Any]) -> None:
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
