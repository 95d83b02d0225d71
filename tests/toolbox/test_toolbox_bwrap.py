"""What bubblewrap adds: nothing outside the work directory can be touched, no network."""

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from toolbox_helpers import needs_bwrap

from piloto.toolbox import (
    Sandbox,
    SandboxUnavailable,
    ToolboxConfig,
    create_toolbox_app,
    prepare_sandbox,
    run_in_sandbox,
)

MakeSandbox = Callable[..., Awaitable[Sandbox]]


async def run(sandbox: Sandbox, cmd: str) -> tuple[int | None, str, str]:
    result = await run_in_sandbox(sandbox, cmd, timeout_s=30, output_cap_bytes=64 * 1024)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def canaries(tmp_path: Path) -> Iterator[list[Path]]:
    """World-writable canary files outside the work directory: only the sandbox's mounts, not
    file permissions, stand between them and `rm`."""
    tag = uuid.uuid4().hex[:12]
    dirs = [tmp_path / "outside", Path(f"/root/piloto-canary-{tag}"), Path(f"/var/tmp/pc-{tag}")]
    files = []
    for directory in dirs:
        try:
            directory.mkdir(parents=True)
        except OSError:
            continue  # /root may not be ours when not running as root
        directory.chmod(0o777)
        canary = directory / "canary.txt"
        canary.write_text("still here")
        canary.chmod(0o666)
        files.append(canary)
    yield files
    for canary in files:
        shutil.rmtree(canary.parent, ignore_errors=True)


@needs_bwrap
async def test_deletion_outside_the_workdir_is_impossible(
    make_sandbox: MakeSandbox, canaries: list[Path]
) -> None:
    sandbox = await make_sandbox("bubblewrap")
    await asyncio.to_thread((sandbox.workdir / "mine.txt").write_text, "x")
    targets = " ".join(f"'{c}' '{c.parent}'" for c in canaries)
    await run(sandbox, f"rm -rf {targets}; rm -rf $HOME/* /root/* /home/*; echo gone > /etc/x")
    for canary in canaries:
        assert canary.read_text() == "still here", canary
    assert not (sandbox.workdir / "mine.txt").exists()  # $HOME is the workdir: that was allowed
    assert not await asyncio.to_thread(Path("/etc/x").exists)


@needs_bwrap
async def test_workdir_writable_rest_read_only(make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox("bubblewrap")
    code, out, _ = await run(sandbox, "echo data > f.txt && cat f.txt && mkdir -p d/e && echo ok")
    assert (code, out) == (0, "data\nok\n")
    assert await asyncio.to_thread((sandbox.workdir / "f.txt").read_text) == "data\n"
    code, _, err = await run(sandbox, "touch /usr/piloto-should-fail")
    assert code != 0 and "Read-only file system" in err


@needs_bwrap
async def test_tmp_is_private(make_sandbox: MakeSandbox, host_tmp_file: Path) -> None:
    sandbox = await make_sandbox("bubblewrap")
    inside = f"/tmp/in-box-{uuid.uuid4().hex}"
    _, out, _ = await run(sandbox, f"cat {host_tmp_file} || echo missing; echo t > {inside}")
    assert out == "missing\n"
    assert not await asyncio.to_thread(Path(inside).exists)


@pytest.fixture
def host_tmp_file() -> Iterator[Path]:
    """A file in the host's /tmp."""
    secret = Path(f"/tmp/piloto-host-secret-{uuid.uuid4().hex}")
    secret.write_text("host")
    yield secret
    secret.unlink()


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP listener on the host's loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


CONNECT = (
    'python3 -c \'import socket,sys; socket.create_connection(("127.0.0.1", {port}), timeout=5);'
    ' print("connected")\''
)


@needs_bwrap
async def test_no_network(make_sandbox: MakeSandbox, listener: int) -> None:
    sandbox = await make_sandbox("bubblewrap")
    assert "no network" in sandbox.protections
    code, out, err = await run(sandbox, CONNECT.format(port=listener))
    assert code != 0 and "connected" not in out
    assert "refused" in err.lower() or "unreachable" in err.lower()
    code, out, _ = await run(sandbox, f"curl -sS -m 5 http://127.0.0.1:{listener}/ || echo fail")
    assert out.endswith("fail\n")


@needs_bwrap
async def test_network_when_enabled(make_sandbox: MakeSandbox, listener: int) -> None:
    sandbox = await make_sandbox("bubblewrap", network=True)
    assert "no network" not in sandbox.protections
    code, out, _ = await run(sandbox, CONNECT.format(port=listener))
    assert (code, out) == (0, "connected\n")


@needs_bwrap
async def test_processes_of_the_host_are_invisible(make_sandbox: MakeSandbox) -> None:
    code, out, _ = await run(await make_sandbox("bubblewrap"), "ls /proc | grep -c '^[0-9]'")
    assert code == 0 and int(out) < 10  # the PID namespace holds only the sandbox's own


@needs_bwrap
def test_auto_picks_bubblewrap_when_it_works(workdir: Path) -> None:
    app = create_toolbox_app(ToolboxConfig(workdir=workdir))
    assert app.state.sandbox.kind == "bubblewrap"


def test_auto_falls_back_when_bwrap_is_unusable(workdir: Path, tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    sandbox = prepare_sandbox(ToolboxConfig(workdir=workdir, bwrap_path=str(fake)))
    assert sandbox.kind == "rlimits"
    assert "namespaces" not in sandbox.protections
    with pytest.raises(SandboxUnavailable, match="No permissions"):
        prepare_sandbox(ToolboxConfig(workdir=workdir, sandbox="bubblewrap", bwrap_path=str(fake)))


def test_missing_bwrap_explicitly_requested(workdir: Path) -> None:
    missing = "/nonexistent/bwrap"
    assert not os.path.exists(missing)
    with pytest.raises(SandboxUnavailable, match="cannot run here"):
        prepare_sandbox(ToolboxConfig(workdir=workdir, sandbox="bubblewrap", bwrap_path=missing))
