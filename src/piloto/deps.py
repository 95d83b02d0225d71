"""FastAPI dependencies shared by every router: the database and the settings."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from piloto.settings import Settings
from piloto.store.db import Database


def get_db(request: Request) -> Database:
    """The process's database handle."""
    return cast(Database, request.app.state.db)


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return cast(Settings, request.app.state.settings)


DB = Annotated[Database, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]
