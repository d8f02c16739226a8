"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from hub_api.db import Database


@pytest.fixture
def db(sqlite_url):
    """A fresh SQLite database with every table of the hub."""
    database = Database(sqlite_url)
    database.create_schema()
    yield database
    database.dispose()
