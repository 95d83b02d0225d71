"""The plan a person confirms: canonical JSON and its SHA-256 ``plan_hash``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any


def canonical_plan(summary: str, steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The fields that define a plan, nothing else."""
    return {
        "summary": summary,
        "steps": [
            {
                "service": s["service"],
                "operation": s["operation"],
                "arguments": dict(s.get("arguments") or {}),
            }
            for s in steps
        ],
    }


def plan_json(plan: Mapping[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept; what a person confirms, byte for byte."""
    return json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plan_hash(plan: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical plan JSON."""
    return hashlib.sha256(plan_json(plan).encode("utf-8")).hexdigest()
