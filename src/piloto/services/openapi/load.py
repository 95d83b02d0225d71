"""Loading an OpenAPI document's text (JSON or YAML) into Python values, refusing binary,
HTML, oversize documents and YAML alias bombs."""

from __future__ import annotations

import datetime
import json
from typing import Any

import yaml

from piloto.services.openapi.errors import SpecError

MAX_SPEC_BYTES = 32 * 1024 * 1024
_MAX_YAML_NODES = 10_000_000  # nodes after alias expansion ("billion laughs" guard)


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


def load_document(raw: bytes | str, *, max_bytes: int) -> Any:
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
