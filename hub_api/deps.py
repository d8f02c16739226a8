"""Shared FastAPI dependencies: settings and database sessions from ``app.state``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from hub_api.db import Database
from ops.settings import HubSettings


def get_settings(request: Request) -> HubSettings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_session(request: Request) -> Iterator[Session]:
    """A session in one transaction for the request: committed if the handler returns."""
    with request.app.state.db.session() as session:
        yield session


SettingsDep = Annotated[HubSettings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
# scope="function": commit when the route returns, *before* the response is sent. With the default
# (request) scope FastAPI runs the exit after sending, so a client could read its own write back
# before it was committed (seen as a deleted schema version still listed under load).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
