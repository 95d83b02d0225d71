"""Structured JSON logs, one object per line; request, run and step ids ride along."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from piloto.redact import Redactor

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
run_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
step_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("step_id", default=None)

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; extra fields are kept, context ids added."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (
            ("request_id", request_id_var),
            ("run_id", run_id_var),
            ("step_id", step_id_var),
        ):
            value = var.get()
            if value is not None:
                out[key] = value
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        if record.exc_text:  # already formatted (and redacted) by SecretFilter
            out["exc"] = record.exc_text
        elif record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send every log line to stderr as JSON (called by the CLI, never at import)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").handlers[:] = []
    logging.getLogger("uvicorn").handlers[:] = []


class SecretFilter(logging.Filter):
    """Replaces the process's known secrets in a record's message, arguments and extra fields."""

    def __init__(self, values: Iterable[str]) -> None:
        super().__init__()
        self.redactor = Redactor(values)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.redactor:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, not ours
            return True
        record.msg, record.args = self.redactor.text(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _STD and not key.startswith("_") and isinstance(value, str | dict | list):
                setattr(record, key, self.redactor.value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        return True


def install_secret_filter(values: Iterable[str]) -> Callable[[], None]:
    """Redact ``values`` from every line the root logger's handlers write; returns an undo."""
    secret_filter = SecretFilter([v for v in values if v])
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(secret_filter)

    def remove() -> None:
        for handler in handlers:
            handler.removeFilter(secret_filter)

    return remove
