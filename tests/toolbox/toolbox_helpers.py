"""Helpers shared by the toolbox tests (a unique module name: `conftest` is ambiguous)."""

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from piloto.toolbox import ToolboxConfig
from piloto.toolbox.sandbox import bubblewrap_problem

TOKEN = "s3cret-toolbox-token-for-tests"


def _bwrap_problem() -> str | None:
    work = Path(f"/tmp/piloto-toolbox-probe-{os.getpid()}")
    try:
        return bubblewrap_problem(ToolboxConfig(workdir=work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


BWRAP_PROBLEM = _bwrap_problem()
needs_bwrap = pytest.mark.skipif(
    BWRAP_PROBLEM is not None, reason=f"bubblewrap unusable here: {BWRAP_PROBLEM}"
)
KINDS = [
    pytest.param("bubblewrap", marks=needs_bwrap, id="bubblewrap"),
    pytest.param("rlimits", id="rlimits"),
]


def live_processes_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _survivors(marker: str, patience_s: float) -> list[int]:
    deadline = time.monotonic() + patience_s
    while (found := live_processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


async def survivors(marker: str, patience_s: float = 10.0) -> list[int]:
    """Live processes with `marker` once they had `patience_s` to finish dying (SIGKILL is
    delivered asynchronously); an empty list means nothing survived."""
    return await asyncio.to_thread(_survivors, marker, patience_s)
