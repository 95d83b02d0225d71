"""Several instances on one database share the secret key through it, or refuse to start.

Two apps in process stand for two instances (their own data directories, one database); the
refusals are checked on the real command, as a person would meet them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from tests.support.instances import instance
from tests.support.settings import ADMIN_TOKEN
from tests.support.waits import eventually
from tests.support.world import TOOLBOX_TOKEN

from piloto.services.crypto import SecretBox, legacy_key
from piloto.services.keyring import resolve_key
from piloto.store import migrate
from piloto.store.db import Database
from piloto.store.problems import StartupError

ROOT = Path(__file__).parents[2]


async def _register(client: httpx.AsyncClient, toolbox_url: str) -> str:
    """A project with the toolbox registered under a bearer token (a stored credential)."""
    project = (await client.post("/api/projects", json={"name": "ops"})).json()
    resp = await client.post(
        "/api/services",
        json={
            "name": "box",
            "kind": "openapi",
            "project_id": project["id"],
            "base_url": toolbox_url,
            "bearer_token": TOOLBOX_TOKEN,
        },
    )
    assert resp.status_code == 201, resp.text
    return str(project["id"])


async def _call_guarded(client: httpx.AsyncClient, project_id: str) -> dict[str, Any]:
    """Run /system/info (it needs the toolbox token) through this instance's runner."""
    chat = (await client.post("/api/chats", json={"project_id": project_id, "title": "k"})).json()
    sent = await client.post(
        "/api/send", json={"chat_id": chat["id"], "text": "/call box system_info {}"}
    )
    run = sent.json()["run"]
    assert run is not None, sent.text
    resp = await client.post(f"/api/runs/{run['id']}/confirm", json={"plan_hash": run["plan_hash"]})
    assert resp.status_code == 200, resp.text

    async def final() -> dict[str, Any]:
        body: dict[str, Any] = (await client.get(f"/api/runs/{run['id']}")).json()
        return body if body["status"] in ("done", "error", "interrupted") else {}

    done: dict[str, Any] = await eventually(final, "the run on the second instance to end")
    return done


def _pg(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share a database only on PostgreSQL")


async def test_a_service_registered_on_a_is_called_by_b(
    database_url: str, tmp_path: Path, shared_toolbox: str
) -> None:
    """Both instances set PILOTO_SECRET_KEY, as the README says: B reads A's credentials."""
    _pg(database_url)
    secret = "shared-between-instances"
    async with instance(database_url, tmp_path / "a", secret_key=secret) as a:
        project_id = await _register(a, shared_toolbox)
        async with instance(database_url, tmp_path / "b", secret_key=secret, runner=True) as b:
            run = await _call_guarded(b, project_id)
    assert run["status"] == "done", run
    assert not (tmp_path / "b" / "secret.key").exists(), "B made a key of its own"


async def test_the_first_instances_own_key_becomes_the_shared_one(
    database_url: str, tmp_path: Path, shared_toolbox: str
) -> None:
    """A started alone without PILOTO_SECRET_KEY; set on both later, B uses A's file key, so
    credentials A saved before stay readable."""
    _pg(database_url)
    async with instance(database_url, tmp_path / "a") as a:
        project_id = await _register(a, shared_toolbox)
    secret = "set-later"
    async with instance(database_url, tmp_path / "a", secret_key=secret):
        pass  # A's start stores its key wrapped under the secret
    async with instance(database_url, tmp_path / "b", secret_key=secret, runner=True) as b:
        run = await _call_guarded(b, project_id)
    assert run["status"] == "done", run


def _serve(database_url: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``piloto serve`` as a person starts it; it must refuse before serving."""
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PILOTO_")},
        "PILOTO_DATABASE_URL": database_url,
        "PILOTO_DATA_DIR": str(data_dir),
        "PILOTO_DEMO": "0",
        "PILOTO_RUNNER": "0",
        "PILOTO_ADMIN_TOKEN": ADMIN_TOKEN,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "piloto.cli", "serve", "--port", "1"],
        env=full, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


async def test_instances_without_a_shared_key_refuse_to_start(
    database_url: str, tmp_path: Path
) -> None:
    _pg(database_url)
    async with instance(database_url, tmp_path / "a"):
        pass
    done = await asyncio.to_thread(_serve, database_url, tmp_path / "b")
    line = _one_line(done)
    assert "PILOTO_SECRET_KEY" in line and str(tmp_path / "b") in line, line
    assert not (tmp_path / "b" / "secret.key").exists(), "a key nobody else has was made"


async def test_a_wrong_or_missing_secret_is_refused(database_url: str, tmp_path: Path) -> None:
    _pg(database_url)
    async with instance(database_url, tmp_path / "a", secret_key="right"):
        pass
    wrong = _one_line(
        await asyncio.to_thread(_serve, database_url, tmp_path / "b", PILOTO_SECRET_KEY="wrong")
    )
    assert "PILOTO_SECRET_KEY" in wrong, wrong
    missing = _one_line(await asyncio.to_thread(_serve, database_url, tmp_path / "c"))
    assert "PILOTO_SECRET_KEY" in missing, missing
    assert "right" not in wrong + missing


async def _key(url: str, data_dir: Path, secret: str | None) -> bytes:
    await asyncio.to_thread(migrate.upgrade, url)
    db = await asyncio.to_thread(Database, url)
    try:
        return await resolve_key(db, secret=secret, data_dir=data_dir, where="db")
    finally:
        await db.dispose()


async def test_existing_installs_keep_their_key(database_url: str, tmp_path: Path) -> None:
    """An install that used PILOTO_SECRET_KEY keeps SHA-256 of it; one that used the data
    dir's file keeps the file: credentials saved before the upgrade stay readable."""
    saved = SecretBox(legacy_key("old-secret")).encrypt({"header:X": "v"})
    key = await _key(database_url, tmp_path / "d", "old-secret")
    assert SecretBox(key).decrypt(saved) == {"header:X": "v"}
    assert await _key(database_url, tmp_path / "d", "old-secret") == key  # restart


async def test_sqlite_keeps_its_file_as_the_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'piloto.db'}"
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.key").write_bytes(b"\n" + Fernet.generate_key() + b"\n")
    file_key = (data / "secret.key").read_bytes().strip()
    assert await _key(url, data, None) == file_key
    # A replaced file (a restored data dir) is logged, not refused: one instance owns SQLite.
    (data / "secret.key").write_bytes(Fernet.generate_key())
    assert await _key(url, data, None) == (data / "secret.key").read_bytes()
    # Setting the secret later shares the file's key through the database; the file still
    # opens it without the secret, a different file does not.
    assert await _key(url, data, "now-set") == (data / "secret.key").read_bytes()
    assert await _key(url, data, None) == (data / "secret.key").read_bytes()
    (data / "secret.key").write_bytes(Fernet.generate_key())
    with pytest.raises(StartupError) as refused:
        await _key(url, data, None)
    assert "PILOTO_SECRET_KEY" in refused.value.text("en")
    assert "PILOTO_SECRET_KEY" in refused.value.text("es")
