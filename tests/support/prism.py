"""Stoplight Prism (an npm package in .tools) as a mock server on a free loopback port."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PRISM = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin" / "prism"
NEEDS_PRISM = pytest.mark.skipif(
    not PRISM.exists(),
    reason="Prism is not installed: npm install --prefix .tools @stoplight/prism-cli",
)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prism(document: str) -> Iterator[str]:
    """Run ``prism mock document`` until the generator is closed; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(PRISM), "mock", "-p", str(port), "-h", "127.0.0.1", document],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.skip(f"prism exited with status {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.skip("prism did not start within 90 s")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
