"""The suite's own rules hold: blocking calls fail async tests; nothing is read from outside."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from blockbuster import BlockingError
from tests.support import specs

ROOT = Path(__file__).resolve().parents[1]


async def test_a_blocking_call_in_an_async_test_fails_it() -> None:
    with pytest.raises(BlockingError):
        time.sleep(0.001)
    with pytest.raises(BlockingError):
        (ROOT / "pyproject.toml").read_bytes()


def test_sync_tests_may_block() -> None:
    time.sleep(0.001)


def test_documents_come_from_inside_the_checkout() -> None:
    assert specs.OAI.is_relative_to(ROOT) or "PILOTO_SPECS_DIR" in os.environ
    assert (specs.OAI / "LICENSE").exists() and (specs.OAI / "petstore.yaml").exists()
