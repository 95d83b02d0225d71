"""``piloto serve`` on a disk or database it cannot use: one line saying what and where, exit 2.

Root ignores chmod, so read-only and full disks are real mounts (a read-only bind, a tiny
tmpfs); where mounting is not allowed those tests are skipped, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from tests.conftest import ADMIN_TOKEN, PG_URL

from piloto.store import migrate

ROOT = Path(__file__).parents[2]
PASSWORD = "Sup3rSecretPassw0rd"


def serve(**env: str) -> str:
    """Start ``piloto serve`` with ``env``; it must refuse: return its one line."""
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PILOTO_")},
        "PILOTO_DEMO": "0",
        "PILOTO_RUNNER": "0",
        "PILOTO_ADMIN_TOKEN": ADMIN_TOKEN,
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "piloto.cli", "serve", "--port", "1"],
        env=full, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and "sqlalchemy" not in done.stderr.lower()
    assert PASSWORD not in done.stderr + done.stdout
    return lines[0]


@contextmanager
def mounted(target: Path, *args: str) -> Iterator[None]:
    """A mount for the test's duration, or a skip where this machine does not allow one."""
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here (needs root in a privileged container): {done.stderr}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_a_file_where_the_data_dir_should_be(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    line = serve(PILOTO_DATA_DIR=str(tmp_path / "data"))
    assert str(tmp_path / "data") in line and "PILOTO_DATA_DIR" in line, line


def test_a_data_dir_under_proc() -> None:
    line = serve(PILOTO_DATA_DIR="/proc/piloto-data")
    assert "/proc/piloto-data" in line and "PILOTO_DATA_DIR" in line, line


def test_in_spanish(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("x")
    line = serve(PILOTO_DATA_DIR=str(tmp_path / "data"), PILOTO_LANGUAGE="es")
    assert "no es un directorio" in line, line


def test_a_read_only_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    migrate.upgrade(f"sqlite:///{data / 'piloto.db'}")
    with mounted(data, "--bind", str(data)):
        remount = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(data)], capture_output=True, text=True
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remount.stderr}")
        line = serve(PILOTO_DATA_DIR=str(data))
    assert str(data / "piloto.db") in line and "read-only" in line, line


def test_a_full_disk(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with mounted(disk, "-t", "tmpfs", "-o", "size=64k", "tmpfs"):
        line = serve(PILOTO_DATA_DIR=str(disk / "data"))
    assert str(disk / "data") in line and "full" in line, line


def test_an_unreachable_postgresql(tmp_path: Path) -> None:
    line = serve(
        PILOTO_DATA_DIR=str(tmp_path / "data"),
        PILOTO_DATABASE_URL=f"postgresql://piloto:{PASSWORD}@127.0.0.1:1/piloto",
    )
    assert "127.0.0.1:1" in line and "PILOTO_DATABASE_URL" in line, line


@pytest.mark.skipif(not PG_URL, reason="needs PILOTO_TEST_DATABASE_URL (PostgreSQL)")
def test_a_wrong_login_and_a_missing_database(tmp_path: Path) -> None:
    assert PG_URL
    base = make_url(PG_URL)
    # Trust authentication accepts any password: an unknown role is the refused login here.
    wrong = base.set(username="no_such_piloto_user", password=PASSWORD)
    line = serve(
        PILOTO_DATA_DIR=str(tmp_path / "data"),
        PILOTO_DATABASE_URL=wrong.render_as_string(hide_password=False),
    )
    assert "refused the login" in line and str(base.host) in line, line
    missing = base.set(database="no_such_piloto_db")
    line = serve(
        PILOTO_DATA_DIR=str(tmp_path / "data"),
        PILOTO_DATABASE_URL=missing.render_as_string(hide_password=False),
    )
    assert "no_such_piloto_db" in line and "does not exist" in line, line
