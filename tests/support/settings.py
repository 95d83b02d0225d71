"""Settings for a Piloto under test: isolated, quiet, with overrides by keyword."""

from __future__ import annotations

from typing import Any

from piloto.settings import Settings

ADMIN_TOKEN = "test-admin-token-0123456789"


def make_settings(**overrides: Any) -> Settings:
    """An instance that reads nothing from the environment or a .env file: no demo, no model,
    no runner, a known admin token; ``data_dir`` and ``database_url`` come with ``overrides``."""
    values: dict[str, Any] = {
        "admin_token": ADMIN_TOKEN,
        "demo": False,
        "runner": False,
        "llm_base_url": None,
        # No test waits for a lease to expire in process; a busy machine must never make one
        # expire under a live runner (tests of takeover set their own, in a subprocess).
        "lease_s": 30.0,
        "heartbeat_s": 2.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
