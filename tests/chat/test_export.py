"""A chat exported as JSON and as Markdown: messages, runs with steps, results and plan hashes."""

from __future__ import annotations

from typing import Any

from tests.chat.conftest import until
from tests.support.world import World

from piloto.llm.scripted import ScriptedLLM


async def test_export_json_and_markdown(loop_world: World, llm: ScriptedLLM) -> None:
    world = loop_world
    # Output that tries to close the Markdown fence and write its own heading.
    run = (await world.send("/cmd box printf '```\\n# injected heading\\n'")).json()["run"]
    await world.send("yes")

    async def summary() -> Any:
        msgs = await world.messages()
        return [m for m in msgs if (m.get("meta") or {}).get("kind") == "summary"]

    await until(summary, what="the run to end")
    data = (await world.client.get(f"/api/chats/{world.chat_id}/export")).json()
    assert data["chat"]["id"] == world.chat_id
    assert [m["seq"] for m in data["messages"]] == sorted(m["seq"] for m in data["messages"])
    [exported] = data["runs"]
    assert exported["id"] == run["id"] and exported["plan_hash"] == run["plan_hash"]
    assert exported["steps"][0]["response"]["body"]["exit_code"] == 0
    assert "lease_owner" not in exported and "proposed_for" not in exported

    resp = await world.client.get(f"/api/chats/{world.chat_id}/export", params={"format": "md"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/markdown")
    assert resp.headers["content-disposition"] == 'attachment; filename="t.md"'
    md = resp.text
    assert md.startswith("# t\n")
    assert f"plan hash `{run['plan_hash']}`" in md
    assert "exit code 0" in md
    # The output sits inside a fence longer than its own backticks: no heading escapes.
    assert "\n# injected heading" in md
    assert "````text\n" in md
    assert headings_outside_fences(md) == ["# t"]
    # The chat's own summary line fences the output the same way.
    [line] = await summary()
    assert headings_outside_fences(line["content"]) == []


def headings_outside_fences(md: str) -> list[str]:
    """Level-1 headings a Markdown reader would see (CommonMark fences: a closer is at least as long)."""
    found, fence = [], ""
    for line in md.splitlines():
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence) and set(stripped) == {"`"}:
                fence = ""
        elif stripped.startswith("```"):
            fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
        elif line.startswith("# "):
            found.append(line)
    return found


async def test_export_refuses_unknown_format_and_chat(loop_world: World) -> None:
    world = loop_world
    bad = await world.client.get(f"/api/chats/{world.chat_id}/export", params={"format": "pdf"})
    assert bad.status_code == 422
    missing = await world.client.get("/api/chats/nope/export")
    assert missing.status_code == 404
