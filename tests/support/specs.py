"""Where the real OpenAPI documents live, all inside the checkout.

The OpenAPI Initiative's examples are copied into ``tests/data/oai`` (Apache-2.0, see its
README). GitHub's 13 MB document is installed from the npm registry by ``./run test``
(``@octokit/openapi``, next to Prism in ``.tools``). ``PILOTO_SPECS_DIR`` may point at another
directory holding ``github-api.json`` and ``oai/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OCTOKIT_OPENAPI = "@octokit/openapi@23.0.2"

_override = os.environ.get("PILOTO_SPECS_DIR")
if _override:
    OAI = Path(_override) / "oai"
    GITHUB_API = Path(_override) / "github-api.json"
else:
    OAI = ROOT / "tests" / "data" / "oai"
    GITHUB_API = (
        ROOT / ".tools" / "node_modules" / "@octokit" / "openapi" / "generated"
        / "api.github.com.json"
    )  # fmt: skip

NEEDS_GITHUB_API = pytest.mark.skipif(
    not GITHUB_API.exists(),
    reason=f"GitHub's OpenAPI document is not installed: ./run test installs it "
    f"(npm install --prefix .tools {OCTOKIT_OPENAPI})",
)
