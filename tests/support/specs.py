"""Where the real OpenAPI documents live: ``../shared/specs`` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

SPECS = Path(
    os.environ.get("PILOTO_SPECS_DIR", Path(__file__).resolve().parents[3] / "shared" / "specs")
)
