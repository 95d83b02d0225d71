"""The work directory's disk quota, enforced without privileges.

Neither bubblewrap nor an unprivileged process can set a filesystem quota, and a loop-mounted
image needs root and loop devices that containers and CI rarely have. So the quota is two
things that work everywhere: before a command, RLIMIT_FSIZE is lowered to what is left (no
single file can outgrow the quota; writing past it fails with "File too large"), and while it
runs, a watchdog measures the directory and kills the command once the total is over.
"""

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

MiB = 1024**2
# The smallest file size a command may always write, even with the quota spent: bash needs
# small temporary files (here-documents), and `rm` must keep working to free space.
FSIZE_FLOOR = 1 * MiB
_MIN_INTERVAL_S = 0.1


def usage_bytes(root: Path) -> int:
    """Disk space used under `root` (allocated blocks, so sparse files count what they hold);
    symlinks are not followed and other filesystems mounted inside are not counted."""
    try:
        device = os.lstat(root).st_dev
    except OSError:
        return 0
    total = 0
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            continue  # vanished, or unreadable: a command's own doing
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_dev != device:
                    continue
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return total


def fsize_for(used: int, quota: int, ceiling: int) -> int:
    """The RLIMIT_FSIZE for the next command: what is left, within [FSIZE_FLOOR, ceiling]."""
    return max(FSIZE_FLOOR, min(ceiling, quota - used))


async def watch(root: Path, quota: int, over: Callable[[int], None]) -> None:
    """Measure `root` until cancelled; call `over(used)` once when it passes `quota`."""
    # The caller has just measured: most commands end before a second look is due.
    await asyncio.sleep(_MIN_INTERVAL_S)
    while True:
        started = time.monotonic()
        used = await asyncio.to_thread(usage_bytes, root)
        if used > quota:
            over(used)
            return
        # A big directory takes long to walk: measure at most a third of the time.
        await asyncio.sleep(max(_MIN_INTERVAL_S, 2 * (time.monotonic() - started)))
