"""Sandboxed execution (toolbox.execute) with real processes, in both sandboxes."""

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Awaitable, Callable

import pytest
from toolbox_helpers import KINDS, survivors

from piloto.toolbox import Sandbox, run_in_sandbox

pytestmark = pytest.mark.parametrize("kind", KINDS)

MakeSandbox = Callable[..., Awaitable[Sandbox]]


async def run(sandbox: Sandbox, cmd: str, timeout_s: float = 20, cap: int = 64 * 1024):
    return await run_in_sandbox(sandbox, cmd, timeout_s=timeout_s, output_cap_bytes=cap)


@pytest.mark.parametrize(("cmd", "code"), [("true", 0), ("false", 1), ("exit 3", 3)])
async def test_exit_codes(make_sandbox: MakeSandbox, kind: str, cmd: str, code: int) -> None:
    result = await run(await make_sandbox(kind), cmd)
    assert (result.exit_code, result.timed_out, result.truncated) == (code, False, False)
    assert result.duration_ms >= 0


async def test_stdout_and_stderr_are_captured(make_sandbox: MakeSandbox, kind: str) -> None:
    result = await run(
        await make_sandbox(kind), "echo to-out; echo to-err >&2; printf 'caf\\xc3\\xa9'"
    )
    assert result.stdout == "to-out\ncafé"
    assert result.stderr == "to-err\n"


async def test_timeout_kills_the_whole_tree(make_sandbox: MakeSandbox, kind: str) -> None:
    marker = f"100.{uuid.uuid4().int % 10**9}"
    result = await run(await make_sandbox(kind), f"sleep {marker} & sleep {marker}", timeout_s=1)
    assert result.timed_out is True
    assert result.exit_code is None
    assert await survivors(f"sleep\x00{marker}") == []


async def test_background_leftovers_die_with_the_command(
    make_sandbox: MakeSandbox, kind: str
) -> None:
    marker = f"100.{uuid.uuid4().int % 10**9}"
    # The background sleep keeps stdout open; the call must still end when bash does.
    result = await run(await make_sandbox(kind), f"sleep {marker} & echo started", timeout_s=60)
    assert (result.exit_code, result.timed_out, result.stdout) == (0, False, "started\n")
    assert await survivors(f"sleep\x00{marker}") == []


async def test_output_is_capped_at_exactly_the_cap(make_sandbox: MakeSandbox, kind: str) -> None:
    result = await run(await make_sandbox(kind), "yes | head -c 1000000; echo done >&2", cap=4096)
    assert result.exit_code == 0
    assert result.truncated is True
    assert len(result.stdout.encode()) == 4096
    assert result.stderr == "done\n"


async def test_stderr_is_capped_too(make_sandbox: MakeSandbox, kind: str) -> None:
    result = await run(
        await make_sandbox(kind), "head -c 50000 /dev/zero | tr '\\0' e >&2", cap=1000
    )
    assert (result.exit_code, result.truncated, result.stderr) == (0, True, "e" * 1000)


async def test_invalid_utf8_is_replaced(make_sandbox: MakeSandbox, kind: str) -> None:
    result = await run(await make_sandbox(kind), "printf 'a\\xffb'")
    assert result.stdout == "a\ufffdb"


async def test_environment_is_scrubbed(
    make_sandbox: MakeSandbox, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILOTO_SECRET_FOR_TEST", "do-not-leak")
    sandbox = await make_sandbox(kind)
    result = await run(sandbox, "env")
    assert "do-not-leak" not in result.stdout
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert env["HOME"] == str(sandbox.workdir)
    assert env["PATH"].startswith("/usr/local/sbin")


async def test_rlimits_apply(make_sandbox: MakeSandbox, kind: str) -> None:
    sandbox = await make_sandbox(kind, rlimit_cpu_s=77, rlimit_nproc=4099)
    result = await run(sandbox, "ulimit -t; ulimit -u; ulimit -v; ulimit -f")
    cpu, nproc, as_kib, fsize_blocks = result.stdout.split()
    assert (cpu, nproc) == ("77", "4099")
    assert int(as_kib) * 1024 == sandbox.limits.as_bytes
    assert int(fsize_blocks) * 1024 == sandbox.limits.fsize_bytes


async def test_big_allocation_fails_under_rlimit_as(make_sandbox: MakeSandbox, kind: str) -> None:
    sandbox = await make_sandbox(kind, rlimit_as_bytes=256 * 1024**2)
    result = await run(sandbox, "python3 -c 'b = bytearray(512 * 1024**2)'")
    assert result.exit_code != 0
    assert "MemoryError" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches commands to nobody")
async def test_commands_run_unprivileged_when_the_service_is_root(
    make_sandbox: MakeSandbox, kind: str
) -> None:
    sandbox = await make_sandbox(kind)
    result = await run(sandbox, "id -u; touch made-here && echo wrote")
    assert result.stdout == "65534\nwrote\n"
    assert "unprivileged user" in sandbox.protections
    assert "rlimit nproc" in sandbox.protections
    assert (await asyncio.to_thread((sandbox.workdir / "made-here").stat)).st_uid == 65534


async def test_fork_bomb_is_contained(make_sandbox: MakeSandbox, kind: str) -> None:
    if os.geteuid() == 0 and kind == "rlimits":
        # As root, NPROC only bites because the command runs as nobody; check that holds.
        assert "rlimit nproc" in (await make_sandbox(kind)).protections
    marker = f"bomb-{uuid.uuid4().hex}"
    sandbox = await make_sandbox(kind, rlimit_nproc=64)
    # Not the classic `:(){ :|:& };:` (the policy refuses that one); execution has no policy.
    result = await run(sandbox, f"b(){{ b|b& }}; b; sleep 100 # {marker}", timeout_s=2, cap=1024)
    assert result.timed_out is True
    assert await survivors(marker) == []
    # The host (and the sandbox) still work afterwards.
    host = await asyncio.create_subprocess_exec("true")
    assert await host.wait() == 0
    assert (await run(sandbox, "echo alive")).stdout == "alive\n"


async def test_cwd_inside_the_workdir(make_sandbox: MakeSandbox, kind: str) -> None:
    sandbox = await make_sandbox(kind)
    await asyncio.to_thread((sandbox.workdir / "sub").mkdir)
    result = await run_in_sandbox(
        sandbox, "pwd", cwd=sandbox.workdir / "sub", timeout_s=10, output_cap_bytes=1024
    )
    assert result.stdout == f"{sandbox.workdir}/sub\n"


async def test_without_the_util_linux_helpers(make_sandbox: MakeSandbox, kind: str) -> None:
    """Without setpriv and prlimit, limits (and, for rlimits, the uid) are set between fork
    and exec instead; the command sees the same thing.

    RLIMIT_NPROC counts every process of the unprivileged user on the machine, and execve
    fails with EAGAIN once that count is over the limit: a small limit here failed whenever the
    fork-bomb test's processes were still being reaped. A large, odd value proves the same."""
    sandbox = await make_sandbox(kind, rlimit_nproc=4093)
    bare = dataclasses.replace(sandbox, prlimit=None)
    if kind == "rlimits":
        bare = dataclasses.replace(bare, setpriv=None)
    result = await run(bare, "ulimit -u; id -u")
    nproc, uid = result.stdout.split()
    assert nproc == "4093"
    assert int(uid) == bare.command_uid
    assert all("prlimit" not in arg for arg in bare.spawn_spec("true", bare.workdir).argv)
