"""One outbox relay per database at a time, released by the operating system if its holder dies.

Two ``hub process`` hosts on one database would otherwise read the same pending rows and
produce each twice, and the in-doubt lookup (:mod:`processors.runtime.outbox_scan`) assumes
no other relay writes while it reads. PostgreSQL: a session advisory lock on a connection kept
open (the server drops it when the connection dies, including after ``kill -9``). SQLite: an
``flock`` on ``<database>.relay.lock`` (the kernel drops it with the process). A host that
does not hold the lock simply does not relay; it tries again on its next round.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from sqlalchemy import Engine, text

log = logging.getLogger("processors.outbox")

# An arbitrary constant shared by every hub process ("ob" in ASCII); the second half of the
# key is the schema's hash, since one PostgreSQL database may hold several hubs' schemas.
ADVISORY_CLASS = 0x6F62
_LOCK = "SELECT pg_try_advisory_lock(:c, hashtext(current_schema()))"
_UNLOCK = "SELECT pg_advisory_unlock(:c, hashtext(current_schema()))"


class RelayLock:
    """Non-blocking, re-entrant within one instance: ``acquire()`` is True while this host holds it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn = None
        self._fd: int | None = None
        self.held = False
        self.generation = 0  # bumped on every fresh acquisition: cached state from before is void

    def acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            return self._acquire_pg()
        if self.engine.dialect.name == "sqlite":
            return self._acquire_file()
        return True  # no shared-lock support known: a single host is assumed

    def _acquire_pg(self) -> bool:
        try:
            if self._conn is not None:
                self._conn.exec_driver_sql("SELECT 1")  # still connected, so still held
                return True
            conn = self.engine.connect()
            got = conn.execute(text(_LOCK), {"c": ADVISORY_CLASS}).scalar_one()
            conn.commit()
            if got:
                self._conn, self.held = conn, True
                self.generation += 1
                log.info("outbox relay lock acquired")
            else:
                conn.close()
            return bool(got)
        except Exception:  # noqa: BLE001 - a lost connection loses the lock: start over next round
            self._drop_pg()
            raise

    def _drop_pg(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
        self._conn, self.held = None, False

    def _acquire_file(self) -> bool:
        if self._fd is not None:
            return True
        database = self.engine.url.database
        if not database or database == ":memory:":
            self.held = True  # an in-memory database belongs to this process alone
            return True
        path = Path(database).with_name(Path(database).name + ".relay.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd, self.held = fd, True
        self.generation += 1
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text(_UNLOCK), {"c": ADVISORY_CLASS})
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing the connection releases it anyway
                pass
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.held = False
