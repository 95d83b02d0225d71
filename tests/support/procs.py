"""Start and wait for real processes on loopback (servers under test, tool services)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process from the repository root, its output in ``log``."""
    return subprocess.Popen(
        args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT
    )


def wait_http(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    """Wait until ``url`` answers, failing early if the process died."""
    import httpx

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode}") from None
            time.sleep(0.1)
    raise TimeoutError(url)
