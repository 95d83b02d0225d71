"""The suite's own rules hold: Piloto's blocking calls fail async tests; nothing is read
from outside the checkout."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from blockbuster import BlockingError

from piloto.services.crypto import SecretBox
from tests.support import specs

ROOT = Path(__file__).resolve().parents[1]


async def test_a_blocking_call_from_piloto_in_an_async_test_fails_it(tmp_path: Path) -> None:
    # Reading (here, creating) the key file is disk I/O: on the loop it must fail the test.
    with pytest.raises(BlockingError):
        SecretBox.from_settings(None, tmp_path)


async def test_a_blocking_call_off_the_loop_is_fine(tmp_path: Path) -> None:
    await asyncio.to_thread(SecretBox.from_settings, None, tmp_path)


def test_sync_tests_may_block() -> None:
    time.sleep(0.001)


def test_documents_come_from_inside_the_checkout() -> None:
    assert specs.OAI.is_relative_to(ROOT) or "PILOTO_SPECS_DIR" in os.environ
    assert (specs.OAI / "LICENSE").exists() and (specs.OAI / "petstore.yaml").exists()
