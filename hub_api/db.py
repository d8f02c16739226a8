"""Database access: one SQLAlchemy engine per URL, one metadata, schema created in code.

Every hub table is declared on :data:`Base` (SQLAlchemy 2 declarative). SQLite files
run in WAL mode with foreign keys on; PostgreSQL uses psycopg 3 (``postgresql+psycopg``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every hub table."""


def _normalise_url(url: str) -> str:
    # Users write postgresql://...; the hub ships psycopg 3, not psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; creates the directory of a SQLite file."""
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def create_schema(engine: Engine) -> None:
    """Create every table declared on :data:`Base` that does not exist yet (idempotent)."""
    # Import the modules that declare tables so their classes are registered on Base.
    import connectors.declarative.inbox  # noqa: F401
    import connectors.runtime.offsets  # noqa: F401
    import connectors.store  # noqa: F401
    import hub_api.auth.models  # noqa: F401
    import hub_api.federation.models  # noqa: F401
    import hub_api.pii  # noqa: F401
    import hub_api.registry.models  # noqa: F401
    import hub_api.sampling.models  # noqa: F401
    import processors.catalog  # noqa: F401 - every processor's tables
    import processors.runtime.models  # noqa: F401

    Base.metadata.create_all(engine)
    processors.runtime.models.upgrade_outbox(engine)


class Database:
    """An engine plus a session factory; the unit every service and test passes around."""

    def __init__(self, url: str) -> None:
        self.url = _normalise_url(url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_schema(self) -> None:
        create_schema(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as s:
            yield s

    def dispose(self) -> None:
        self.engine.dispose()
