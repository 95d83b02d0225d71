"""The suite on several pytest-xdist workers (``./run test`` passes ``-n auto --dist loadgroup``).

Every test is isolated by default: its own temporary directory, SQLite file or PostgreSQL
schema, servers on free loopback ports, session servers per worker. The exceptions share one
worker, one test after another, in a group named here with the reason.

xdist's own ``loadgroup`` reads ``xdist_group`` marks by appending the group to each node id,
which pytest 9.2's structured node ids silently ignore (pytest-xdist issue #1386): the tests
were spread as if ungrouped. So the workers write the groups they collected to a file named
after the run, and the controller schedules by it (``GroupScheduling``).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

# Modules whose tests look at the whole machine, not only at what they started themselves.
MACHINE_WIDE = {
    # A test's sqlite and postgresql variants run the same marker command (`sleep 7.3141`) and
    # find it by scanning /proc: side by side, one would see the other's process.
    "tests/runner/test_runner_crash.py": "proc-markers-crash",
    "tests/runner/test_runner_once.py": "proc-markers-once",
    "tests/runner/test_runner_execute.py": "proc-markers-execute",
    # RLIMIT_NPROC counts every process of the unprivileged user (nobody) on the machine; the
    # fork bomb fills its limit on purpose.
    "tests/toolbox/test_toolbox_execute.py": "nproc",
}

# Session servers too costly to start once per worker.
COSTLY_SESSION_FIXTURES = {
    # Prism parses GitHub's 13 MB document for ~35 s before it listens.
    "prism_github": "prism",
    "prism_petstore": "prism",
}


def group_of(item: pytest.Item) -> str | None:
    """The group an item must share a worker with, if any."""
    path = item.nodeid.split("::", 1)[0]
    if path in MACHINE_WIDE:
        return MACHINE_WIDE[path]
    for name in getattr(item, "fixturenames", ()):
        if name in COSTLY_SESSION_FIXTURES:
            return COSTLY_SESSION_FIXTURES[name]
    if item.get_closest_marker("browser"):
        # One `piloto serve` and one Chromium for the session; and one worker's main thread
        # for Playwright's event loop (see `_turn`).
        return "browser"
    return None


def _turn(item: pytest.Item) -> int:
    """When an item is scheduled: the long ones first so that none is left alone at the end,
    and the browser's last, since Playwright's sync API leaves its event loop running in the
    worker's main thread until the session ends, where no async test can run after it."""
    if item.get_closest_marker("browser"):
        return 2
    return 0 if item.get_closest_marker("slow") or group_of(item) else 1


def _groups_file(run: str) -> Path:
    return Path(tempfile.gettempdir()) / f"piloto-test-groups-{run}.json"


def configure(config: pytest.Config) -> None:
    """On the controller: name the run, so that workers and controller share the groups file."""
    controller = config.getoption("dist", "no") != "no" and not hasattr(config, "workerinput")
    if controller and not config.getoption("testrunuid", None):
        config.option.testrunuid = uuid.uuid4().hex


def unconfigure(config: pytest.Config) -> None:
    """On the controller: remove the run's groups file."""
    run = config.getoption("testrunuid", None)
    if run and not hasattr(config, "workerinput"):
        _groups_file(run).unlink(missing_ok=True)


def order_and_group(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker: write the groups for the controller, and start the slow tests first so
    none is left alone at the end."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is None:
        return
    items.sort(key=_turn)  # stable: otherwise in collection order
    groups = {item.nodeid: group for item in items if (group := group_of(item))}
    target = _groups_file(workerinput["testrunuid"])
    # Every worker collects the same tests: each writes the same content, atomically.
    partial = target.with_suffix(f".{workerinput['workerid']}.tmp")
    partial.write_text(json.dumps(groups))
    os.replace(partial, target)


class GroupScheduling(LoadScopeScheduling):
    """Each test on its own, except the groups above: one work unit each, on one worker."""

    _groups: dict[str, str] | None = None

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        # In the workers' order (`_turn`), not the largest group first.
        config.option.loadscopereorder = False

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:
            # Read once every worker has collected (xdist schedules only then).
            self._groups = json.loads(_groups_file(self.config.option.testrunuid).read_text())
        return self._groups.get(nodeid, nodeid)
