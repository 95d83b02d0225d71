"""A Spanish chat on a Spanish server reads Spanish in the texts a person meets around a plan:
the step list of "Plan propuesto", why a plan could not be proposed, a stale confirmation, a
missing role, a step whose operation was withdrawn after confirmation, an unknown service or
operation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.instances import app_client
from tests.support.settings import make_settings
from tests.support.waits import eventually
from tests.support.world import World, make_world

from piloto.i18n import MESSAGES
from piloto.settings import Settings

# English words that must not reach this chat; each was seen there before it read Spanish.
ENGLISH = (
    "(read",
    "(write",
    "only reads",
    "step 1:",
    "refused, the arguments",
    "the plan has",
    "changed since you saw",
    "needs the",
    "role; your token",
    "not allowed any more",
    "unknown service",
    "has no operation",
    "is disabled",
)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        language="es",
        runner=True,
        lease_s=5.0,
        heartbeat_s=1.0,
        retry_base_s=0.01,
    )


@pytest.fixture
async def world(settings: Settings, shared_toolbox: str) -> AsyncIterator[World]:
    async with app_client(settings) as client:
        w = await make_world(client, shared_toolbox)
        resp = await client.patch(f"/api/chats/{w.chat_id}", json={"language": "es"})
        assert resp.status_code == 200, resp.text
        yield w


async def _until_step_ends(world: World, run_id: str) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        run = dict((await world.client.get(f"/api/runs/{run_id}")).json())
        return run if run["status"] in ("done", "error", "cancelled", "interrupted") else None

    run: dict[str, Any] | None = await eventually(ended, f"run {run_id} to end")
    assert run is not None
    return run


def _english_in(text: str) -> list[str]:
    return [w for w in ENGLISH if w in text]


async def test_plan_texts_read_spanish(world: World) -> None:
    # The step list: the risk word and the policy's reason.
    resp = await world.send("/cmd box uptime")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    plan_text = body["reply"]["content"]
    assert plan_text.startswith("Plan propuesto")
    assert "(lectura: " in plan_text, plan_text
    run = body["run"]
    # A confirmation of a plan seen with another hash.
    stale = await world.client.post(f"/api/runs/{run['id']}/confirm", json={"plan_hash": "0" * 64})
    assert stale.status_code == 409
    assert stale.json()["detail"].startswith("El plan cambió desde que lo viste")
    # Why a plan cannot be proposed: text that would make the card lie.
    hidden = await world.send('/call box run_command {"cmd": "echo a\u202eb"}')
    assert hidden.status_code == 200, hidden.text
    # The operation withdrawn between confirmation and its step.
    ops = f"/api/services/{world.service_id}/operations/run_command"
    confirmed = await world.client.post(
        f"/api/runs/{run['id']}/confirm", json={"plan_hash": run["plan_hash"]}
    )
    assert confirmed.status_code == 200, confirmed.text
    # (too late for this run if it already started; the next one is stopped for sure)
    await _until_step_ends(world, run["id"])
    second = (await world.send("/cmd box uptime")).json()["run"]
    assert (await world.client.patch(ops, json={"enabled": False})).status_code == 200
    await world.client.post(
        f"/api/runs/{second['id']}/confirm", json={"plan_hash": second["plan_hash"]}
    )
    ended = await _until_step_ends(world, second["id"])
    assert ended["status"] == "error"
    # A viewer asking for an operator's action.
    token = (
        await world.client.post("/api/tokens", json={"name": "mirón", "role": "viewer"})
    ).json()["token"]
    denied = await world.client.patch(
        f"/api/chats/{world.chat_id}",
        json={"title": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert denied.status_code == 403
    assert denied.json()["detail"] == "Esto requiere el rol operador; tu token es de lector."
    mute = await world.client.post(
        "/api/send",
        json={"chat_id": world.chat_id, "text": "hola"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert mute.status_code == 403
    assert mute.json()["detail"] == "Esto requiere el rol operador; tu token es de lector."

    messages = await world.messages()
    text = "\n".join(str(m["content"]) for m in messages)
    assert "No pude proponer ese plan: paso 1: rechazado" in text, text
    assert "ya no está permitido: la operación “run_command” de “box” está desactivada" in text
    # Plans naming a service or an operation that does not exist.
    assert (await world.send('/call nadie op {"x": 1}')).status_code == 200
    assert (await world.send("/call box no_hay {}")).status_code == 200
    text = "\n".join(str(m["content"]) for m in await world.messages())
    assert "paso 1: no hay ningún servicio llamado “nadie”" in text, text
    assert "paso 1: el servicio “box” no tiene ninguna operación “no_hay”" in text, text
    assert _english_in(text + stale.text + denied.text + mute.text) == []


def test_the_new_texts_exist_in_both_languages() -> None:
    for key in ("risk_read", "plan_step_problem", "plan_hash_mismatch", "needs_role"):
        assert set(MESSAGES[key]) == {"en", "es"}
