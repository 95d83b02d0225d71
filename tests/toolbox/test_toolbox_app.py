"""The toolbox's HTTP API through the real app in process (httpx ASGI transport)."""

import asyncio
import logging
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from toolbox_helpers import TOKEN

import piloto
from piloto.toolbox import ToolboxConfig, ToolboxConfigError, create_toolbox_app

MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def command(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/command", json=body)


async def test_health_is_honest(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok"
    assert health["version"] == piloto.__version__
    assert health["sandbox"] in ("bubblewrap", "rlimits")
    assert health["idempotency"] is False
    protections = health["protections"]
    for always in ("rlimit cpu", "rlimit as", "scrubbed environment", "timeout", "output cap"):
        assert always in protections
    # ("no network" is not among them: without bubblewrap, seccomp can provide it.)
    bwrap_only = {"namespaces", "read-only system", "private /tmp"}
    if health["sandbox"] == "rlimits":
        assert not bwrap_only & set(protections)
    if os.geteuid() == 0 and "unprivileged user" not in protections:
        assert "rlimit nproc" not in protections  # root ignores it: never claimed


async def test_health_needs_no_token(authed_client: httpx.AsyncClient) -> None:
    response = await authed_client.get("/health")
    assert response.status_code == 200
    assert response.json()["auth_required"] is True


async def test_openapi_lists_the_three_operations_with_risk(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    assert set(operations) == {"health", "system_info", "run_command"}
    assert spec["paths"]["/command"]["post"]["operationId"] == "run_command"
    assert operations["run_command"]["x-piloto-risk"] == "write"
    assert operations["system_info"]["x-piloto-risk"] == "read"


@pytest.mark.parametrize(("cmd", "code"), [("true", 0), ("false", 1), ("exit 3", 3)])
async def test_command_exit_codes(client: httpx.AsyncClient, cmd: str, code: int) -> None:
    response = await command(client, cmd=cmd)
    assert response.status_code == 200
    body = response.json()
    assert body["exit_code"] == code
    assert set(body) == {
        "exit_code",
        "stdout",
        "stderr",
        "duration_ms",
        "timed_out",
        "truncated",
        "quota_exceeded",
    }


async def test_command_output_and_timeout(client: httpx.AsyncClient) -> None:
    body = (await command(client, cmd="echo hi; echo oops >&2")).json()
    assert (body["stdout"], body["stderr"], body["timed_out"]) == ("hi\n", "oops\n", False)
    body = (await command(client, cmd="sleep 30", timeout_s=0.5)).json()
    assert (body["exit_code"], body["timed_out"]) == (None, True)


async def test_output_cap_from_config(make_client: MakeClient) -> None:
    async with make_client(output_cap_bytes=1000) as client:
        body = (await command(client, cmd="yes | head -c 1000000")).json()
    assert body["truncated"] is True
    assert len(body["stdout"]) == 1000


async def test_blocked_command_is_refused_and_not_run(
    client: httpx.AsyncClient, workdir: Path
) -> None:
    response = await command(client, cmd=":(){ :|:& };:")
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail["error"] == "blocked"
    assert detail["reason"]
    response = await command(client, cmd="touch ran-anyway; rm -rf /")
    assert response.status_code == 403
    assert not await asyncio.to_thread((workdir / "ran-anyway").exists)


@pytest.mark.parametrize("path", ["/command", "/system/info"])
async def test_token_required(authed_client: httpx.AsyncClient, path: str) -> None:
    async def call(headers: dict[str, str]) -> httpx.Response:
        if path == "/command":
            return await authed_client.post(path, json={"cmd": "true"}, headers=headers)
        return await authed_client.get(path, headers=headers)

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = await call(headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await call({"Authorization": f"Bearer {TOKEN}"})).status_code == 200


async def test_token_never_logged(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = ToolboxConfig(token=TOKEN)
    assert TOKEN not in repr(config)
    async with make_client(token=TOKEN) as client:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        await client.post("/command", json={"cmd": "echo hi"}, headers=headers)
        await client.post("/command", json={"cmd": "true"}, headers={"Authorization": "Bearer x"})
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        {"cmd": ""},
        {"cmd": "   "},
        {"cmd": "echo a\x00b"},
        {"cmd": "x" * 20_000},
        {"cmd": "true", "timeout_s": 0},
        {"cmd": "true", "timeout_s": -1},
        {"cmd": "true", "timeout_s": 601},
        {"cmd": "true", "shell": "zsh"},
        {},
    ],
    ids=[
        "empty",
        "blank",
        "nul",
        "too-long",
        "zero-timeout",
        "negative",
        "over-max",
        "extra",
        "none",
    ],
)
async def test_invalid_requests_are_422(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    assert (await client.post("/command", json=body)).status_code == 422


async def test_cwd_inside_the_workdir_works(client: httpx.AsyncClient, workdir: Path) -> None:
    await asyncio.to_thread((workdir / "a" / "b").mkdir, parents=True)
    for cwd in ("a/b", str(workdir / "a" / "b"), "a/../a/b"):
        body = (await command(client, cmd="pwd", cwd=cwd)).json()
        assert body["stdout"] == f"{workdir}/a/b\n"


async def test_cwd_escape_is_refused(
    client: httpx.AsyncClient, workdir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    await asyncio.to_thread(outside.mkdir)
    (workdir / "link-out").symlink_to(outside)
    for cwd in ("..", "../outside", "/etc", str(outside), "link-out", "link-out/.", "missing"):
        response = await command(client, cmd="pwd", cwd=cwd)
        assert response.status_code == 400, cwd
        assert response.json()["detail"]["error"] == "bad_cwd"
        assert response.json()["detail"]["reason"]


async def test_system_info_shape(authed_client: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    info = (await authed_client.get("/system/info", headers=headers)).json()
    assert info["hostname"]
    assert info["os"]["platform"] == "Linux"
    assert info["os"]["release"]
    assert info["uptime_s"] > 0
    assert set(info["load"]) == {"1m", "5m", "15m"}
    assert 0 < info["memory"]["available_bytes"] <= info["memory"]["total_bytes"]
    assert info["disks"], "at least the root filesystem"
    for disk in info["disks"]:
        assert disk["fstype"] not in ("proc", "sysfs", "tmpfs", "cgroup", "cgroup2", "devpts")
        assert disk["used_bytes"] + disk["free_bytes"] <= disk["total_bytes"]
    assert any(disk["mount"] == "/" for disk in info["disks"])


def test_no_token_only_on_loopback(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        with pytest.raises(ToolboxConfigError, match="without a token"):
            create_toolbox_app(ToolboxConfig(host=host, workdir=tmp_path))
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        ToolboxConfig(host=host).validate()
    ToolboxConfig(host="0.0.0.0", token=TOKEN).validate()


@pytest.mark.parametrize(
    "overrides",
    [{"default_timeout_s": 0}, {"default_timeout_s": 700}, {"output_cap_bytes": 0}, {"token": " "}],
)
def test_bad_configs_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ToolboxConfigError):
        ToolboxConfig(**overrides).validate()  # type: ignore[arg-type]


def test_default_workdir_is_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILOTO_DATA_DIR", str(tmp_path / "data"))
    app = create_toolbox_app(ToolboxConfig(sandbox="rlimits"))
    assert app.state.sandbox.workdir == tmp_path / "data" / "toolbox-work"
    assert (tmp_path / "data" / "toolbox-work").is_dir()
