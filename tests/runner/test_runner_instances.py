"""Several instances on one PostgreSQL database share the work; each run executes once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from runner_support import CountingState, confirm, new_chat, open_app, propose, register, wait_run

from piloto.settings import Settings


async def test_two_instances_share_runs_without_running_any_twice(
    settings: Settings, tmp_path: Path, counting: tuple[str, CountingState]
) -> None:
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("several instances need PostgreSQL")
    url, state = counting
    # Instances sharing a database share PILOTO_SECRET_KEY (without it the second refuses).
    settings = settings.model_copy(update={"secret_key": SecretStr("instances-share-this")})
    async with (
        open_app(settings) as one,
        open_app(settings.model_copy(update={"data_dir": tmp_path / "two"})) as two,
    ):
        await register(one, "shop", url)
        runs = []
        for n in range(12):
            _, chat_id = await new_chat(one)
            run = await propose(one, chat_id, f'/call shop createOrder {{"item": "pen-{n}"}}')
            runs.append(await confirm(two if n % 2 else one, run))
        finals = [await wait_run(one, r["id"]) for r in runs]
    assert [f["status"] for f in finals] == ["done"] * 12
    by_key = state.snapshot()["by_key"]
    assert sorted(by_key[f["steps"][0]["idempotency_key"]] for f in finals) == [1] * 12
    assert len(state.snapshot()["requests"]) == 12
