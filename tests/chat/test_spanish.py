"""A Spanish chat reads Spanish: a whole plan, a failure, an unknown service, an unknown command."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.chat.conftest import until
from tests.support.world import World

from piloto.i18n import MESSAGES
from piloto.llm.scripted import Reply, ScriptedLLM


def plan(cmd: str) -> str:
    return json.dumps(
        {
            "summary": "Saludar",
            "steps": [{"service": "box", "operation": "run_command", "arguments": {"cmd": cmd}}],
        }
    )


def english_fixed_text(text: str) -> list[str]:
    """Fixed English wording (not data) from the message table that appears in ``text``."""
    found = []
    for table in MESSAGES.values():
        en, es = table["en"], table["es"]
        if en == es:
            continue
        # The template's fixed words, longest piece between placeholders.
        pieces = [p.strip(" .:;—()*\n") for p in re.split(r"\{[^}]*\}", en)]
        pieces = [p for p in pieces if len(p) >= 12]
        found += [p for p in pieces if p in text]
    return found


async def test_a_spanish_chat_reads_spanish(loop_world: World, llm: ScriptedLLM) -> None:
    world = loop_world
    await world.client.patch(f"/api/chats/{world.chat_id}", json={"language": "es"})
    await world.client.patch(
        f"/api/projects/{world.project_id}", json={"settings": {"retry_attempts": 1}}
    )
    # A whole plan, answered by the model.
    llm.push(Reply(tool_calls=[("mcp_request", plan("echo hola"))]), Reply(text="Dijo hola."))
    body = (await world.send("di hola")).json()
    assert body["reply"]["content"].startswith("Plan propuesto: Saludar")
    await world.send("sí")
    await until(_has(world, "Dijo hola."), what="the answer")
    # A failure, from a slash command (its summary is deterministic, no model).
    run = (await world.send("/cmd box ls /no-existe-este-directorio")).json()["run"]
    await world.send("sí")

    async def summary() -> Any:
        msgs = await world.messages()
        return [m for m in msgs if (m.get("meta") or {}).get("kind") == "summary"]

    await until(summary, what="the failed command's summary")
    # An unknown service and an unknown command.
    await world.send("/cmd nadie uptime")
    await world.send("/foo")
    msgs = await world.messages()
    events = [m["content"] for m in msgs if m["role"] in ("event", "assistant")]
    text = "\n".join(events)
    assert "Ejecutar `ls /no-existe-este-directorio` en box" in text
    assert "Paso 1/1 box · run_command: hecho" in text
    assert re.search(
        r"Paso 1/1 box · run_command: error \(\d+ ms\) — el comando terminó con código 2", text
    )
    assert "El plan se detuvo con un error en el paso 1: el comando terminó con código 2" in text
    assert "Paso 1: código de salida 2" in text
    assert "No hay ningún servicio llamado “nadie”" in text
    assert "Comando desconocido /foo" in text
    # Nothing written by Piloto's table reaches this chat in English.
    assert english_fixed_text(text) == []
    assert run["status"] == "draft"
    # Confirming a plan that is no longer a draft says so in Spanish.
    resp = await world.client.post(
        f"/api/runs/{run['id']}/confirm", json={"plan_hash": run["plan_hash"]}
    )
    assert resp.status_code == 409
    assert "solo se puede confirmar un borrador" in resp.json()["detail"]


def _has(world: World, needle: str) -> Any:
    async def check() -> Any:
        return any(needle in m["content"] for m in await world.messages())

    return check


def test_both_languages_have_every_key() -> None:
    for key, table in MESSAGES.items():
        assert set(table) == {"en", "es"}, key
        assert sorted(re.findall(r"\{(\w+)", table["en"])) == sorted(
            re.findall(r"\{(\w+)", table["es"])
        ), key


def test_the_runners_reasons_in_spanish() -> None:
    from piloto.runner.report import localise_reason

    assert localise_reason("es", "the command exited with code 2") == (
        "el comando terminó con código 2"
    )
    assert localise_reason("es", "the command timed out and was killed; x") == (
        "el comando superó el tiempo límite y se detuvo; x"
    )
    assert localise_reason("es", "the output reports permission denied") == (
        "la salida indica permission denied"
    )
    # A service's own text is data: left as it is.
    assert localise_reason("es", "HTTP 500 · upstream failed") == "HTTP 500 · upstream failed"
    assert localise_reason("en", "the command exited with code 2") == (
        "the command exited with code 2"
    )
