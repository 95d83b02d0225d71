"""Identifiers and clocks shared by every table."""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """A 26-character id that sorts by creation time (ms) and is unguessable."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(7)}"


def now() -> float:
    """Wall-clock time in epoch seconds, the unit of every timestamp column."""
    return time.time()
