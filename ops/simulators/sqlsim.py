"""Base of the simulators that are SQL tables (ecology, drug administration).

The table lives in any SQLAlchemy URL -- its own SQLite file by default (a fresh temporary
directory), or PostgreSQL (``postgresql+psycopg://...``).  :meth:`SqlSimulator.start` creates
the table (dropping a previous one of the same name) and inserts the initial ``count``
events; :meth:`tick` adds more, one transaction per call, as the system keeps working.
"""

from __future__ import annotations

import tempfile
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from ops.simulators.base import Simulator, cli, now_cst, sim_options
from ops.simulators.cases import SimEvent


def decimal(s: str | None) -> Decimal | None:
    """A generator amount string (``"12500.00"``) as a ``Decimal`` for a NUMERIC column."""
    return None if s is None else Decimal(s)


def insert(conn: sa.Connection, table: sa.Table, **values) -> int:
    """Insert one row; returns its generated primary key (the ledger position's row id)."""
    return conn.execute(table.insert().values(**values)).inserted_primary_key[0]


class SqlSimulator(Simulator):
    """A table in a database; subclasses define :meth:`define_table` and :meth:`write`."""

    table_name = "sim_table"

    def __init__(self, *args, url: str | None = None, table: str | None = None, **kw):
        super().__init__(*args, **kw)
        if url is None:
            url = f"sqlite:///{Path(tempfile.mkdtemp(prefix=f'{self.system}-')) / f'{self.system}.db'}"
        self.url = url
        self.table_name = table or self.table_name
        self.engine = sa.create_engine(url)
        self.metadata = sa.MetaData()
        self.table = self.define_table(self.metadata)
        self._last_ts: datetime | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def define_table(self, metadata: sa.MetaData) -> sa.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def write(self, conn: sa.Connection, events: list[SimEvent]) -> None:  # pragma: no cover
        raise NotImplementedError

    def clock(self) -> datetime:
        """Strictly increasing wall-clock timestamps (ms resolution), so polling by time is exact."""
        now = now_cst().replace(microsecond=now_cst().microsecond // 1000 * 1000)
        if self._last_ts is not None and now <= self._last_ts:
            now = self._last_ts + timedelta(milliseconds=1)
        self._last_ts = now
        return now

    def publish(self, events: list[SimEvent]) -> None:
        with self.engine.begin() as conn:
            self.write(conn, events)

    def start(self, interval: float | None = None, per_tick: int = 10) -> str:
        """Create and fill the table; with ``interval``, tick ``per_tick`` rows that often. Returns the URL."""
        self.table.drop(self.engine, checkfirst=True)
        self.metadata.create_all(self.engine)
        self.emit(self.initial_count)
        if interval:
            def run():
                while not self._stop.wait(interval):
                    self.tick(per_tick)
            self._ticker = threading.Thread(target=run, name=f"{self.system}-ticker", daemon=True)
            self._ticker.start()
        return self.url

    def tick(self, n: int = 10) -> list[SimEvent]:
        """Insert / update ``n`` more events now."""
        return self.emit(n)

    def stop(self) -> None:
        self._stop.set()
        if self._ticker:
            self._ticker.join(timeout=10)
        self.engine.dispose()
        super().stop()


def sql_cli(simulator: type[SqlSimulator], description: str, argv=None) -> None:
    """:func:`~ops.simulators.base.cli` of a SQL simulator: common options plus ``--url --table``."""
    def extra(p):
        p.add_argument("--url", default=None, help="SQLAlchemy URL (default: a new SQLite file)")
        p.add_argument("--table", default=None)

    cli(lambda a: simulator(**sim_options(a), url=a.url, table=a.table), description, extra=extra, argv=argv)
