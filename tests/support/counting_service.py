"""A tool service that counts what it receives, run as its own process so it outlives Piloto.

    python -m tests.support.counting_service PORT

``POST /work`` honours ``Idempotency-Key``: the first request with a key executes (counted in
``executions``), later ones replay the stored answer (counted in ``deliveries`` only).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import Any

import uvicorn
from fastapi import FastAPI, Header
from pydantic import BaseModel


class Work(BaseModel):
    n: int = 0
    delay_s: float = 0.0


def build() -> FastAPI:
    app = FastAPI(title="counting service", version="1")
    executions: Counter[str] = Counter()
    deliveries: Counter[str] = Counter()
    answers: dict[str, dict[str, Any]] = {}

    @app.post("/work", operation_id="do_work")
    async def work(
        body: Work, idempotency_key: str = Header(default="", alias="Idempotency-Key")
    ) -> dict[str, Any]:
        deliveries[idempotency_key] += 1
        if idempotency_key and idempotency_key in answers:
            return answers[idempotency_key]
        await asyncio.sleep(body.delay_s)
        executions[idempotency_key] += 1
        answers[idempotency_key] = {"done": body.n, "key": idempotency_key}
        return answers[idempotency_key]

    @app.get("/stats", operation_id="stats")
    async def stats() -> dict[str, Any]:
        return {"executions": dict(executions), "deliveries": dict(deliveries)}

    return app


if __name__ == "__main__":
    uvicorn.run(build(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
