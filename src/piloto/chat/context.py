"""Everything one model request carries: system prompt, catalogue, history with its tool calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from piloto.chat import calls as calls_repo
from piloto.chat.history import DATA_MARK, build_messages
from piloto.chat.prompt import (
    SYSTEM_PROMPT,
    CatalogueEntry,
    render_catalogue,
    render_runbooks,
    tool_prompt,
)
from piloto.chat.toolcall import MCP_REQUEST_TOOL
from piloto.plans import repo as plans_repo
from piloto.plans.models import PlanRun
from piloto.projects.repo import get_project
from piloto.services import repo as services_repo
from piloto.settings import Settings
from piloto.store.db import Database
from piloto.store.schema import runbooks as runbooks_table
from piloto.threads import repo

CATALOGUE_SHARE = 0.4
HISTORY_LIMIT = 200


@dataclass
class TurnContext:
    """The request for one model call, and how tools travel in it."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None  # None: tools are described in the prompt instead
    allow_tools: bool  # whether a tool call may become a plan this turn
    parse_text: bool  # whether tool calls written as text are recognised
    native: bool  # whether the history and corrections use the API's tool messages
    model: str | None  # the chat's own model, if it chose one


async def catalogue_for(db: Database, project_id: str) -> list[CatalogueEntry]:
    """Every enabled operation of every enabled, online service visible from a project."""
    entries: list[CatalogueEntry] = []
    async with db.read() as conn:
        for svc in await services_repo.list_services(conn, project_id=project_id):
            if not svc.enabled or svc.status != "online":
                continue
            for op in await services_repo.list_operations(conn, service_id=svc.id, with_spec=True):
                if op.enabled:
                    entries.append(CatalogueEntry(svc, op))
    return entries


async def turn_context(
    db: Database,
    settings: Settings,
    *,
    chat_id: str,
    project_id: str,
    lang: str,
    query: str,
    allow_tools: bool = True,
) -> TurnContext:
    """Build the request: the history reads each model plan as its tool call and result."""
    budget = settings.llm_context_tokens
    entries = await catalogue_for(db, project_id)
    catalogue = render_catalogue(entries, budget_tokens=int(budget * CATALOGUE_SHARE), query=query)
    async with db.read() as conn:
        project = await get_project(conn, project_id=project_id)
        chat = await repo.get_chat(conn, chat_id=chat_id)
        # The runbooks people saved in this project: the model may propose one's steps.
        saved = await conn.execute(
            select(runbooks_table)
            .where(runbooks_table.c.project_id == project_id)
            .order_by(runbooks_table.c.name)
        )
        listed = render_runbooks(list(saved))
        if listed:
            catalogue += "\n\n" + listed
        history = await repo.recent_messages(conn, chat_id=chat_id, limit=HISTORY_LIMIT)
        calls = await calls_repo.plan_calls_of(conn, chat_id=chat_id)
        wanted = {m.run_id for m in history if m.run_id in calls}
        runs: dict[str, PlanRun] = {}
        for run_id in wanted:
            if run_id is not None:
                runs[run_id] = await plans_repo.get_run(conn, run_id=run_id)
    mode = settings.llm_tools
    native = mode != "prompt"
    system = (
        SYSTEM_PROMPT.format(mark=DATA_MARK, language="Spanish" if lang == "es" else "English")
        + f"\nProject: {project.name}."
    )
    if allow_tools and not native:
        system += "\n\n" + tool_prompt()
    if not allow_tools:
        system += "\nAnswer in words only this time: do not propose a plan."
    messages = build_messages(
        system=system, catalogue=catalogue, history=history, budget_tokens=budget,
        calls=calls, runs=runs, native=native,
    )  # fmt: skip
    return TurnContext(
        messages=messages,
        # Sent even when no plan is wanted: the history holds tool calls, and some servers
        # refuse those without `tools`; a call made anyway is then not acted on.
        tools=[MCP_REQUEST_TOOL] if native else None,
        allow_tools=allow_tools,
        # Parsed even when no plan is wanted, so a call written anyway is not shown as raw JSON.
        parse_text=mode != "native",
        native=native,
        model=chat.model,
    )
