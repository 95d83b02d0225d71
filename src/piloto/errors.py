"""Errors a person reads: each carries an HTTP status, a stable code and a clear message."""

from __future__ import annotations

from typing import Any


class PilotoError(Exception):
    """Base class; ``str(err)`` is the sentence shown to the person."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra


class NotFound(PilotoError):
    status_code = 404
    code = "not_found"


class Conflict(PilotoError):
    status_code = 409
    code = "conflict"


class Forbidden(PilotoError):
    status_code = 403
    code = "forbidden"


class Unauthorized(PilotoError):
    status_code = 401
    code = "unauthorized"


class Invalid(PilotoError):
    status_code = 422
    code = "invalid"
