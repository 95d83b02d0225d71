"""Commands that attack the host from inside the sandbox, in both kinds of sandbox: Piloto's
data and secrets, the disk, /tmp, PostgreSQL on loopback, the service's own environment."""

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolbox_helpers import KINDS

from piloto.toolbox import CommandResult, Sandbox, ToolboxConfig, prepare_sandbox, run_in_sandbox

MiB = 1024**2
SECRETS = {
    "piloto.db": "SQLite format 3 -- the chats and audit",
    "secret.key": "the-key-that-decrypts-credentials",
    "toolbox.token": "the-toolbox-bearer-token",
}

pytestmark = pytest.mark.parametrize("kind", KINDS)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory laid out as `piloto serve` leaves it, the demo's work dir inside."""
    data = tmp_path / "data"
    data.mkdir()
    for name, content in SECRETS.items():
        (data / name).write_text(content)
    (data / "toolbox-work").mkdir()
    return data


async def sandbox_for(data_dir: Path, kind: str, **overrides: object) -> Sandbox:
    config = ToolboxConfig(
        workdir=data_dir / "toolbox-work",
        sandbox=kind,  # type: ignore[arg-type]
        hidden_paths=(data_dir,),
        **overrides,  # type: ignore[arg-type]
    )
    return await asyncio.to_thread(prepare_sandbox, config)


async def run(sandbox: Sandbox, cmd: str, timeout_s: float = 60) -> CommandResult:
    return await run_in_sandbox(sandbox, cmd, timeout_s=timeout_s, output_cap_bytes=256 * 1024)


def protected(sandbox: Sandbox) -> bool:
    """Whether this sandbox claims to hide the data directory (rlimits needs Landlock, or a
    switch to an unprivileged user that the data files' permissions keep out)."""
    return "hidden data directory" in sandbox.protections or sandbox.run_as is not None


async def test_secrets_in_the_data_dir_cannot_be_read(data_dir: Path, kind: str) -> None:
    sandbox = await sandbox_for(data_dir, kind)
    if not protected(sandbox):
        pytest.skip("rlimits as the service's own user without Landlock cannot hide files")
    attempts = []
    for name in SECRETS:
        attempts += [f"cat {data_dir / name}", f"cat ../{name}", f"cp ../{name} stolen-{name}"]
    attempts += ["ls -la ..", "grep -r . .. 2>/dev/null | head -c 100000", "tar cf - .. | strings"]
    result = await run(sandbox, "; ".join(f"{a} 2>&1" for a in attempts))
    for name, content in SECRETS.items():
        assert content not in result.stdout, name
        assert content not in result.stderr, name
        stolen = sandbox.workdir / f"stolen-{name}"
        if await asyncio.to_thread(stolen.exists):
            assert content not in await asyncio.to_thread(stolen.read_text)
    for name in SECRETS:  # and nothing was destroyed either
        assert await asyncio.to_thread((data_dir / name).read_text) == SECRETS[name]


async def test_secrets_cannot_be_deleted_or_replaced(data_dir: Path, kind: str) -> None:
    sandbox = await sandbox_for(data_dir, kind)
    if not protected(sandbox):
        pytest.skip("rlimits as the service's own user without Landlock cannot hide files")
    await run(
        sandbox, f"rm -f ../*; echo evil > ../secret.key; mv ../piloto.db . ; rm -rf {data_dir}"
    )
    for name, content in SECRETS.items():
        assert await asyncio.to_thread((data_dir / name).read_text) == content


async def test_a_hidden_file_outside_the_data_dir(tmp_path: Path, kind: str) -> None:
    key = tmp_path / "elsewhere.key"
    await asyncio.to_thread(key.write_text, "lonely-secret")
    work = tmp_path / "work"
    await asyncio.to_thread(work.mkdir)
    sandbox = await asyncio.to_thread(
        prepare_sandbox,
        ToolboxConfig(workdir=work, sandbox=kind, hidden_paths=(key,)),  # type: ignore[arg-type]
    )
    if not protected(sandbox):
        pytest.skip("rlimits as the service's own user without Landlock cannot hide files")
    result = await run(sandbox, f"cat {key} 2>&1")
    assert "lonely-secret" not in result.stdout


async def test_writing_100_mb_in_one_file_stops_at_the_quota(data_dir: Path, kind: str) -> None:
    sandbox = await sandbox_for(data_dir, kind, disk_bytes=16 * MiB)
    result = await run(sandbox, "dd if=/dev/zero of=big bs=1M count=100 2>&1; ls -s big")
    size = (await asyncio.to_thread((sandbox.workdir / "big").stat)).st_size
    assert size <= 16 * MiB
    assert "File size limit exceeded" in result.stderr


async def test_writing_100_mb_in_many_files_is_stopped(data_dir: Path, kind: str) -> None:
    sandbox = await sandbox_for(data_dir, kind, disk_bytes=16 * MiB)
    # Each file stays under RLIMIT_FSIZE; only the total is too much: the watchdog's job.
    cmd = "for i in $(seq 100); do head -c 1048576 /dev/urandom > f$i || exit 9; done"
    result = await run(sandbox, cmd)
    assert result.quota_exceeded is True
    assert "over its quota of 16 MiB" in result.stderr
    assert "PILOTO_TOOLBOX_DISK_MB" in result.stderr
    # Over the quota, deleting still works and frees the space.
    cleanup = await run(sandbox, "rm -f f* && echo freed")
    assert (cleanup.stdout, cleanup.quota_exceeded) == ("freed\n", False)
    again = await run(sandbox, "head -c 1048576 /dev/zero > small && echo ok")
    assert (again.stdout, again.quota_exceeded) == ("ok\n", False)


async def test_tmp_cannot_be_filled(data_dir: Path, kind: str) -> None:
    sandbox = await sandbox_for(data_dir, kind, tmp_bytes=8 * MiB)
    result = await run(sandbox, 'head -c 100000000 /dev/zero > "${TMPDIR:-/tmp}/fill"; echo $?')
    assert result.stdout.strip() != "0"
    if kind == "bubblewrap":
        assert "No space left on device" in result.stderr
        # /tmp is private and writable for the command's user (it was not before).
        ok = await run(sandbox, "echo x > /tmp/f && cat /tmp/f && ls -ld /tmp")
        assert ok.stdout.startswith("x\ndrwxrwxrwt")
    else:
        # Without bubblewrap, temporary files go to the work directory, under its quota.
        assert sandbox.env()["TMPDIR"].startswith(str(sandbox.workdir))
        host = await run(sandbox, "echo x > /tmp/piloto-sandbox-escape-$$ && echo wrote")
        if "landlock: writes only in the work directory" in sandbox.protections:
            assert "wrote" not in host.stdout


async def test_shared_memory_cannot_be_filled(data_dir: Path, kind: str) -> None:
    sandbox = await sandbox_for(data_dir, kind, tmp_bytes=8 * MiB)
    if kind == "rlimits" and "landlock: writes only in the work directory" not in (
        sandbox.protections
    ):
        pytest.skip("without Landlock, rlimits cannot keep commands out of /dev/shm")
    result = await run(sandbox, "head -c 100000000 /dev/zero > /dev/shm/fill; echo $?")
    assert result.stdout.strip() != "0"
    expected = "No space left on device" if kind == "bubblewrap" else "Permission denied"
    assert expected in result.stderr


@pytest.fixture
def postgres_port() -> Iterator[int]:
    """Something listening on 127.0.0.1:5432: the real PostgreSQL if it runs, else a stand-in."""
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex(("127.0.0.1", 5432)) == 0:
            yield 5432
            return
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", 5432))
        except OSError:
            pytest.skip("port 5432 is taken and does not accept connections")
        sock.listen(4)
        yield 5432


CONNECT = (
    'python3 -c \'import socket; socket.create_connection(("127.0.0.1", {port}), timeout=5); '
    'print("connected")\' 2>&1; '
    "curl -sS -m 5 http://127.0.0.1:{port}/ 2>&1; "
    "(exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected-bash) 2>&1"
)


async def test_postgres_on_loopback_is_unreachable(
    data_dir: Path, kind: str, postgres_port: int
) -> None:
    sandbox = await sandbox_for(data_dir, kind)
    if kind == "rlimits" and "no network" not in sandbox.protections:
        pytest.skip("seccomp is unavailable here: rlimits cannot cut the network")
    result = await run(sandbox, CONNECT.format(port=postgres_port))
    assert "connected" not in result.stdout
    assert "no network" in sandbox.protections


async def test_the_service_environment_is_out_of_reach(
    data_dir: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = await sandbox_for(data_dir, kind)
    me = os.getpid()
    result = await run(sandbox, f"cat /proc/{me}/environ /proc/$PPID/environ 2>/dev/null | wc -c")
    assert result.stdout.strip() == "0"
