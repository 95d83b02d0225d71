"""The one error a broken OpenAPI document raises, and JSON pointers to say where."""

from __future__ import annotations


class SpecError(ValueError):
    """A document that is not a usable OpenAPI description; ``where`` says where."""

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(f"{message} at {where}")
        self.message = message
        self.where = where


def ptr(*parts: object) -> str:
    """A JSON pointer (RFC 6901) to a place in the document."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)
