"""FastAPI's handle on the process's service registry, for any router that calls services."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from piloto.services.registry import ServiceRegistry


def get_registry(request: Request) -> ServiceRegistry:
    """The process's service registry."""
    return cast(ServiceRegistry, request.app.state.registry)


Registry = Annotated[ServiceRegistry, Depends(get_registry)]
