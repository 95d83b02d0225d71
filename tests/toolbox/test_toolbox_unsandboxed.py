"""Without bubblewrap the toolbox still serves, but runs only `read` commands unless an admin
opts in; /health says which, and the refusal says why and how to enable the rest."""

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from toolbox_helpers import needs_bwrap

from piloto.toolbox import ToolboxConfig, ToolboxConfigError

MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def exists(path: Path) -> bool:
    return path.exists()


async def test_without_bubblewrap_only_read_commands_run(
    make_client: MakeClient, workdir: Path
) -> None:
    async with make_client(sandbox="rlimits") as client:
        health = (await client.get("/health")).json()
        assert (health["sandbox"], health["commands"]) == ("rlimits", "read-only")
        for cmd in ("touch made", "rm -f keep.txt", "echo x > made", "python3 -c 'print(1)'"):
            response = await client.post("/command", json={"cmd": cmd})
            assert response.status_code == 403, cmd
            detail = response.json()["detail"]
            assert detail["error"] == "sandbox_required"
            assert "not sandboxed" in detail["reason"]
            assert "PILOTO_TOOLBOX_UNSANDBOXED=1" in detail["reason"]
            assert "bubblewrap" in detail["reason"]
        assert not await asyncio.to_thread(exists, workdir / "made")
        response = await client.post("/command", json={"cmd": "ls -la; cat /etc/hostname"})
        assert response.status_code == 200
        assert response.json()["exit_code"] == 0


async def test_an_admin_can_opt_in_to_unsandboxed_commands(
    make_client: MakeClient, workdir: Path
) -> None:
    async with make_client(sandbox="rlimits", unsandboxed=True) as client:
        assert (await client.get("/health")).json()["commands"] == "all"
        response = await client.post("/command", json={"cmd": "touch made && echo ok"})
        assert (response.status_code, response.json()["stdout"]) == (200, "ok\n")
    assert await asyncio.to_thread(exists, workdir / "made")


@pytest.fixture
def failing_bwrap(tmp_path: Path) -> Path:
    """A `bwrap` that fails as it does where user namespaces are not allowed."""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    return fake


async def test_the_refusal_says_why_bubblewrap_is_missing(
    make_client: MakeClient, failing_bwrap: Path
) -> None:
    fake = failing_bwrap
    async with make_client(bwrap_path=str(fake)) as client:
        assert (await client.get("/health")).json()["commands"] == "read-only"
        response = await client.post("/command", json={"cmd": "touch x"})
    assert "No permissions to create new namespace" in response.json()["detail"]["reason"]


@needs_bwrap
async def test_with_bubblewrap_every_allowed_command_runs(make_client: MakeClient) -> None:
    async with make_client() as client:
        health = (await client.get("/health")).json()
        assert (health["sandbox"], health["commands"]) == ("bubblewrap", "all")
        assert health["disk_quota_bytes"] == 512 * 1024**2
        assert health["tmp_bytes"] == 64 * 1024**2
        assert "disk quota" in health["protections"]
        response = await client.post("/command", json={"cmd": "touch made && echo ok"})
        assert response.json()["stdout"] == "ok\n"


async def test_the_command_operation_names_its_command_field(make_client: MakeClient) -> None:
    async with make_client() as client:
        spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/command"]["post"]
    assert operation["x-piloto-command-field"] == "cmd"
    assert "cmd" in spec["components"]["schemas"]["CommandRequest"]["properties"]


def test_hiding_the_work_directory_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    for hidden in (work, work / "inside", Path("/")):
        with pytest.raises(ToolboxConfigError, match="hidden path"):
            ToolboxConfig(workdir=work, hidden_paths=(hidden,)).validate()
    ToolboxConfig(workdir=work, hidden_paths=(tmp_path,)).validate()  # the demo's layout


def test_quota_and_tmp_must_be_positive() -> None:
    for overrides in ({"disk_bytes": 0}, {"tmp_bytes": -1}):
        with pytest.raises(ToolboxConfigError, match="must be positive"):
            ToolboxConfig(**overrides).validate()  # type: ignore[arg-type]
