"""A chat as a record to keep: JSON (messages, runs with steps, results and plan hashes) or Markdown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.chat.outcome import fence_for
from piloto.plans import repo as plans_repo
from piloto.store.schema import runs
from piloto.threads import repo

EXPORT_RESULT_CHARS = 4000  # per step in Markdown; the JSON keeps what the database keeps


async def export_chat(conn: AsyncConnection, *, chat_id: str) -> dict[str, Any]:
    """The whole chat: its messages in order and every run with its steps."""
    chat = await repo.get_chat(conn, chat_id=chat_id)
    msgs = [m.model_dump() for m in await repo.all_messages(conn, chat_id=chat_id)]
    run_ids = (
        await conn.execute(
            select(runs.c.id).where(runs.c.chat_id == chat_id).order_by(runs.c.created_at)
        )
    ).scalars()
    all_runs = [(await plans_repo.get_run(conn, run_id=rid)).public() for rid in list(run_ids)]
    return {
        "chat": chat.model_dump(),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "messages": msgs,
        "runs": all_runs,
    }


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _result(step: dict[str, Any]) -> str:
    response = step.get("response")
    if not isinstance(response, dict):
        return ""
    body = response.get("body")
    if isinstance(body, dict) and "exit_code" in body:
        out = str(body.get("stdout") or "") + str(body.get("stderr") or "")
        text = f"exit code {body.get('exit_code')}\n{out}".rstrip()
    else:
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, indent=2)
    if len(text) > EXPORT_RESULT_CHARS:
        text = text[:EXPORT_RESULT_CHARS] + "\n… (clipped; the JSON export has it all)"
    return text


def to_markdown(data: dict[str, Any]) -> str:
    """The export as Markdown: the conversation, then each run with its steps and results."""
    chat = data["chat"]
    out = [f"# {chat['title']}", "", f"Exported {data['exported_at']}.", "", "## Conversation", ""]
    for m in data["messages"]:
        who = {"user": (m.get("meta") or {}).get("by") or "person", "assistant": "Piloto"}.get(
            m["role"], m["role"]
        )
        run = f" · run `{m['run_id']}`" if m.get("run_id") else ""
        out += [f"**{who}** · {_when(m['created_at'])}{run}", ""]
        if m["role"] in ("user", "assistant"):
            out += [m["content"], ""]
        else:
            # Piloto's records quote tool output: fenced, so output cannot pose as the document.
            fence = fence_for(m["content"])
            out += [f"{fence}text", m["content"], fence, ""]
    if data["runs"]:
        out += ["## Runs", ""]
    for r in data["runs"]:
        out += [
            f"### {r['summary']}",
            "",
            f"- run `{r['id']}`: **{r['status']}**",
            f"- plan hash `{r['plan_hash']}`",
            f"- proposed by {r['proposed_by']}; confirmed by {r.get('confirmed_by') or '—'}",
            "",
        ]
        for s in r.get("steps") or ():
            line = f"{s['idx'] + 1}. **{s['service']}** · {s['operation']}: {s['status']}"
            if s.get("request_summary"):
                line += f" — `{s['request_summary']}`"
            out.append(line)
            if s.get("error"):
                out.append(f"   error: {s['error']}")
            result = _result(s)
            if result:
                fence = fence_for(result)
                out += ["", f"{fence}text", result, fence]
            out.append("")
    return "\n".join(out).rstrip() + "\n"
