"""Registered connectors in SQL: configs, target states, reported status, and the leases that assign them.

Tables (SQLAlchemy 2 on :data:`hub_api.db.Base`):

* ``connectors`` -- one row per registered connector: the full :class:`ConnectorConfig` as
  JSON, the *target* state an operator asked for (RUNNING / PAUSED / STOPPED) and a
  ``generation`` bumped on every config change and restart request (workers restart a
  connector whose generation moved).
* ``connector_status`` -- what the owning worker *reported*: state (RUNNING / PAUSED /
  STOPPED / FAILED / UNASSIGNED), worker id, last error (class names and reason codes only,
  never record values), counters.
* ``connector_leases`` -- who runs the connector, until when (see :mod:`connectors.worker`).
* ``connect_workers`` -- live connect workers and their last heartbeat (for the fair share).

Secrets inside a connector config (``SecretStr`` fields of the plugin's model) are sealed
with the store's :class:`connectors.secret_box.SecretBox` before they are written and opened
when read, so ``connectors.config`` holds ``{"$sealed": ...}`` where a token was. A store
built with ``box=None`` seals nothing and opens nothing: tests and tools that only read status
or offsets use it; a record read through it that holds sealed values says so in
``secrets_error``.

Leases are race-safe on SQLite and PostgreSQL without explicit locks: a row is created
with ``INSERT ... ON CONFLICT DO NOTHING`` and taken with a conditional ``UPDATE ... WHERE
worker_id IS NULL OR expires_at < now``; the caller owns the lease only if the UPDATE hit one
row. Times come from the workers' clocks (UTC): hosts must keep their clocks in sync to
well under the lease TTL (NTP).

Thread-safety: a :class:`ConnectorStore` holds only the :class:`hub_api.db.Database`; every
call uses its own connection and transaction, so it can be shared across threads.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    String,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from connectors.config import ConnectorConfig, _errors
from connectors.runtime.plugin import Plugin
from connectors.secret_box import SecretBox, SecretsUnavailable, is_sealed
from hub_api.db import Base, Database

TargetState = Literal["RUNNING", "PAUSED", "STOPPED"]
TARGET_STATES: tuple[str, ...] = ("RUNNING", "PAUSED", "STOPPED")
STATES: tuple[str, ...] = ("RUNNING", "PAUSED", "STOPPED", "FAILED", "UNASSIGNED")
COUNTERS: tuple[str, ...] = ("polled", "produced", "dead_lettered", "committed", "failures")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; everything the store writes is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


class ConnectorRow(Base):
    """One registered connector and the state an operator wants it in."""

    __tablename__ = "connectors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    plugin: Mapped[str] = mapped_column(String(200), nullable=False)
    config: Mapped[dict] = mapped_column(JSON, nullable=False)
    target_state: Mapped[str] = mapped_column(String(16), nullable=False, default="RUNNING")
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ConnectorStatusRow(Base):
    """The state a worker last reported for a connector."""

    __tablename__ = "connector_status"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="UNASSIGNED")
    worker_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    counters: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ConnectorLeaseRow(Base):
    """Which worker runs a connector, until when (NULL worker: free)."""

    __tablename__ = "connector_leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ConnectWorkerRow(Base):
    """A connect worker and its last heartbeat."""

    __tablename__ = "connect_workers"

    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ConnectorExists(Exception):
    """``create`` met a connector of the same name."""


class ConnectorNotFound(KeyError):
    """No connector of that name."""


@dataclass(frozen=True)
class ConnectorRecord:
    """A registered connector as stored."""

    name: str
    plugin: str
    config: dict[str, Any]
    """The full :class:`ConnectorConfig` as JSON (secrets included: never return it as is)."""
    target_state: str
    generation: int
    created_at: dt.datetime
    updated_at: dt.datetime
    secrets_error: str | None = None
    """Why the secrets could not be opened (then ``config`` holds them sealed), else None."""

    @property
    def connector_config(self) -> ConnectorConfig:
        """The config with its secrets opened; raises :class:`SecretsUnavailable` if they are not."""
        if self.secrets_error:
            raise SecretsUnavailable(self.secrets_error)
        return ConnectorConfig.model_validate(self.config)


@dataclass(frozen=True)
class ConnectorStatus:
    """Effective status: what the owner reported, corrected by the lease (no live owner: UNASSIGNED)."""

    name: str
    state: str
    worker_id: str | None
    last_error: str | None
    counters: dict[str, int] = field(default_factory=dict)
    updated_at: dt.datetime | None = None
    target_state: str = "RUNNING"
    generation: int = 1


def validate(raw: Mapping[str, Any], plugins: Mapping[str, Plugin]) -> tuple[ConnectorConfig | None, BaseModel | None, list[dict]]:
    """:func:`connectors.config.validate_config` against an explicit plugin table.

    Returns ``(connector, plugin_config, errors)``; ``errors`` are ``{"field", "message",
    "type"}`` with field paths as the user wrote them (``config.url``).
    """
    try:
        connector = ConnectorConfig.model_validate(dict(raw))
    except ValidationError as exc:
        return None, None, _errors(exc, prefix="")
    plugin = plugins.get(connector.plugin)
    if plugin is None:
        valid = ", ".join(sorted(plugins)) or "(none)"
        return connector, None, [{"field": "plugin", "type": "unknown_plugin",
                                  "message": f"unknown connector plugin {connector.plugin!r}; valid plugins: {valid}"}]
    try:
        plugin_config = plugin.config_model.model_validate(connector.config)
    except ValidationError as exc:
        return connector, None, _errors(exc, prefix="config.")
    return connector, plugin_config, []


def _has_sealed(value: Any) -> bool:
    if is_sealed(value):
        return True
    if isinstance(value, dict):
        return any(_has_sealed(v) for v in value.values())
    return isinstance(value, list) and any(_has_sealed(v) for v in value)


class ConnectorStore:
    """CRUD of connectors, target states, status reports and leases. ``clock`` returns aware UTC.

    ``box`` seals and opens the secrets of configs (None: neither, see the module docstring);
    ``plugins`` tells where a plugin's secrets are (default: :data:`connectors.plugins.PLUGINS`).
    """

    def __init__(self, db: Database, clock: Callable[[], dt.datetime] = _utcnow, *, box: SecretBox | None,
                 plugins: Mapping[str, Plugin] | None = None):
        if plugins is None:
            from connectors.plugins import PLUGINS as plugins
        self.db = db
        self.clock = clock
        self.box, self.plugins = box, plugins
        self._tables = {m.__tablename__: m.__table__ for m in
                        (ConnectorRow, ConnectorStatusRow, ConnectorLeaseRow, ConnectWorkerRow)}

    def ensure_schema(self) -> None:
        """Create the four tables if missing (idempotent)."""
        Base.metadata.create_all(self.db.engine, tables=list(self._tables.values()))

    # -- secrets ---------------------------------------------------------------------------

    def _model(self, plugin: str) -> type[BaseModel] | None:
        found = self.plugins.get(plugin)
        return found.config_model if found else None

    def _sealed(self, config: ConnectorConfig) -> dict[str, Any]:
        """``config`` as JSON with the plugin config's secrets sealed (as given without a box)."""
        doc = config.model_dump(mode="json")
        model = self._model(config.plugin)
        if self.box is not None and model is not None and isinstance(doc.get("config"), dict):
            doc["config"] = self.box.seal_config(doc["config"], model)
        return doc

    def _opened(self, plugin: str, doc: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """``(doc with its secrets opened, None)``, or ``(doc as stored, why not)``."""
        doc = dict(doc)
        inner, model = doc.get("config"), self._model(plugin)
        if not isinstance(inner, dict):
            return doc, None
        if self.box is not None and model is not None:
            try:
                doc["config"] = self.box.unseal_config(inner, model)  # plaintext passes as it is
            except SecretsUnavailable as exc:
                return doc, str(exc)
            return doc, None
        if not _has_sealed(inner):
            return doc, None
        return doc, ("this process has no key for connector secrets" if self.box is None
                     else f"unknown connector plugin {plugin!r}: its secrets cannot be told apart")

    def _record(self, row: ConnectorRow) -> ConnectorRecord:
        config, error = self._opened(row.plugin, row.config)
        return ConnectorRecord(row.name, row.plugin, config, row.target_state, row.generation,
                               _aware(row.created_at), _aware(row.updated_at), error)

    def reseal(self) -> dict[str, int]:
        """Seal every stored secret under the box's first key: plaintext (stored by a hub that
        kept secrets in clear) and values an older key sealed. The generation is not bumped (the
        config did not change). Returns counts: ``resealed``, ``current``, ``unreadable``."""
        if self.box is None:
            raise RuntimeError("reseal needs a SecretBox")
        counts = {"resealed": 0, "current": 0, "unreadable": 0}
        with self.db.session() as s:
            for row in s.scalars(select(ConnectorRow).with_for_update()).all():
                model, inner = self._model(row.plugin), (row.config or {}).get("config")
                if model is None or not isinstance(inner, dict):
                    continue
                try:
                    sealed, changed = self.box.reseal_config(inner, model)
                except SecretsUnavailable:
                    counts["unreadable"] += 1
                    continue
                if changed:
                    row.config = {**row.config, "config": sealed}
                counts["resealed" if changed else "current"] += 1
        return counts

    # -- connectors ------------------------------------------------------------------------

    def create(self, config: ConnectorConfig, target_state: TargetState = "RUNNING") -> ConnectorRecord:
        """Register ``config``; raises :class:`ConnectorExists` if the name is taken."""
        _check_target(target_state)
        now = self.clock()
        with self.db.session() as s:
            if s.get(ConnectorRow, config.name) is not None:
                raise ConnectorExists(config.name)
            row = ConnectorRow(name=config.name, plugin=config.plugin, config=self._sealed(config),
                               target_state=target_state, generation=1, created_at=now, updated_at=now)
            s.add(row)
            status = s.get(ConnectorStatusRow, config.name)
            if status is None:
                s.add(ConnectorStatusRow(name=config.name, state="STOPPED" if target_state == "STOPPED" else "UNASSIGNED",
                                         counters={}, updated_at=now))
            s.flush()
            return self._record(row)

    def get(self, name: str) -> ConnectorRecord | None:
        with self.db.session() as s:
            row = s.get(ConnectorRow, name)
            return self._record(row) if row else None

    def list(self, names: Iterable[str] | None = None) -> list[ConnectorRecord]:
        """Every connector (or those of ``names``), by name."""
        stmt = select(ConnectorRow).order_by(ConnectorRow.name)
        if names is not None:
            stmt = stmt.where(ConnectorRow.name.in_(list(names)))
        with self.db.session() as s:
            return [self._record(r) for r in s.scalars(stmt)]

    def update_config(self, config: ConnectorConfig) -> ConnectorRecord:
        """Replace the config; bumps the generation if anything changed (the owner restarts it)."""
        with self.db.session() as s:
            row = s.get(ConnectorRow, config.name, with_for_update=True)
            if row is None:
                raise ConnectorNotFound(config.name)
            # Compared opened: sealing is randomised, so the sealed texts differ on every write.
            current, error = self._opened(row.plugin, row.config)
            if error or config.model_dump(mode="json") != current or config.plugin != row.plugin:
                row.config, row.plugin = self._sealed(config), config.plugin
                row.generation += 1
                row.updated_at = self.clock()
            s.flush()
            return self._record(row)

    def delete(self, name: str) -> bool:
        """Forget a connector, its status and its lease (its owner stops at its next renewal).

        Its committed source offsets are kept (as Kafka Connect does): a connector created
        again under the same name resumes there unless they are reset first.
        """
        with self.db.engine.begin() as conn:
            gone = conn.execute(delete(self._tables["connectors"]).where(self._tables["connectors"].c.name == name)).rowcount
            for table in ("connector_status", "connector_leases"):
                conn.execute(delete(self._tables[table]).where(self._tables[table].c.name == name))
        return bool(gone)

    def set_target_state(self, name: str, state: TargetState) -> ConnectorRecord:
        _check_target(state)
        with self.db.session() as s:
            row = s.get(ConnectorRow, name, with_for_update=True)
            if row is None:
                raise ConnectorNotFound(name)
            if row.target_state != state:
                row.target_state, row.updated_at = state, self.clock()
            s.flush()
            return self._record(row)

    def request_restart(self, name: str) -> ConnectorRecord:
        """Bump the generation: the owner restarts the connector (also out of FAILED)."""
        table = self._tables["connectors"]
        with self.db.engine.begin() as conn:
            hit = conn.execute(update(table).where(table.c.name == name)
                               .values(generation=table.c.generation + 1, updated_at=self.clock())).rowcount
        if not hit:
            raise ConnectorNotFound(name)
        return self.get(name)

    # -- status ----------------------------------------------------------------------------

    def status(self, name: str) -> ConnectorStatus | None:
        """The effective status of ``name`` (None if not registered)."""
        return self.statuses([name]).get(name)

    def statuses(self, names: Iterable[str] | None = None) -> dict[str, ConnectorStatus]:
        """Effective status per connector: the report, unless no worker holds a live lease
        (then UNASSIGNED, or STOPPED for a connector meant to be stopped that nobody runs)."""
        now = self.clock()
        c, st, ls = (self._tables[t] for t in ("connectors", "connector_status", "connector_leases"))
        stmt = (select(c.c.name, c.c.target_state, c.c.generation, st.c.state, st.c.worker_id, st.c.last_error,
                       st.c.counters, st.c.updated_at, ls.c.worker_id, ls.c.expires_at)
                .select_from(c.outerjoin(st, st.c.name == c.c.name).outerjoin(ls, ls.c.name == c.c.name)))
        if names is not None:
            stmt = stmt.where(c.c.name.in_(list(names)))
        out = {}
        with self.db.engine.connect() as conn:
            for name, target, gen, state, worker, error, counters, updated, owner, expires in conn.execute(stmt):
                live = owner is not None and expires is not None and _aware(expires) >= now
                state = state or "UNASSIGNED"
                if not live:
                    state = "STOPPED" if target == "STOPPED" and state == "STOPPED" else "UNASSIGNED"
                    worker = None
                else:
                    worker = owner
                out[name] = ConnectorStatus(name, state, worker, error, dict(counters or {}), _aware(updated),
                                            target, gen)
        return out

    def report_status(self, name: str, worker_id: str, state: str, last_error: str | None = None,
                      counters: Mapping[str, int] | None = None) -> bool:
        """Record what ``worker_id`` sees; ignored (False) unless it holds the live lease."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; valid states: {', '.join(STATES)}")
        if not self.holds(name, worker_id):
            return False
        self._write_status(name, state, worker_id, last_error, counters)
        return True

    def _write_status(self, name: str, state: str, worker_id: str | None, last_error: str | None,
                      counters: Mapping[str, int] | None) -> None:
        table = self._tables["connector_status"]
        values = {"state": state, "worker_id": worker_id, "last_error": last_error, "updated_at": self.clock()}
        if counters is not None:
            values["counters"] = dict(counters)
        with self.db.engine.begin() as conn:
            if not conn.execute(update(table).where(table.c.name == name).values(**values)).rowcount:
                conn.execute(self._insert_ignore(table, {"name": name, "counters": {}, **values}))

    def settle_stopped(self) -> list[str]:
        """Mark STOPPED every connector meant to be stopped that no worker holds a live lease on.

        Its former owner cannot commit any more (the runner checks the lease before every
        commit), so its offsets may be changed. Returns the names settled.
        """
        now = self.clock()
        c, st, ls = (self._tables[t] for t in ("connectors", "connector_status", "connector_leases"))
        held = select(ls.c.name).where(ls.c.worker_id.is_not(None), ls.c.expires_at >= now)
        stmt = (select(c.c.name).select_from(c.outerjoin(st, st.c.name == c.c.name))
                .where(c.c.target_state == "STOPPED", or_(st.c.state.is_(None), st.c.state != "STOPPED"),
                       c.c.name.not_in(held)))
        with self.db.engine.connect() as conn:
            names = list(conn.execute(stmt).scalars())
        for name in names:
            self._write_status(name, "STOPPED", None, None, None)
        return names

    # -- workers and leases ----------------------------------------------------------------

    def heartbeat(self, worker_id: str) -> None:
        """Record that ``worker_id`` is alive now."""
        table = self._tables["connect_workers"]
        now = self.clock()
        with self.db.engine.begin() as conn:
            if not conn.execute(update(table).where(table.c.worker_id == worker_id).values(heartbeat_at=now)).rowcount:
                conn.execute(self._insert_ignore(table, {"worker_id": worker_id, "heartbeat_at": now}))

    def forget_worker(self, worker_id: str) -> None:
        """Remove a stopping worker from the live set (the others' fair share grows at once)."""
        table = self._tables["connect_workers"]
        with self.db.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.worker_id == worker_id))

    def live_workers(self, ttl: float) -> int:
        table = self._tables["connect_workers"]
        since = self.clock() - dt.timedelta(seconds=ttl)
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(table.c.heartbeat_at >= since)).scalar_one())

    def fair_share(self, ttl: float) -> int:
        """``ceil(active connectors / live workers)``: the most one worker should own."""
        c = self._tables["connectors"]
        with self.db.engine.connect() as conn:
            active = int(conn.execute(select(func.count()).select_from(c).where(c.c.target_state != "STOPPED")).scalar_one())
        return math.ceil(active / max(1, self.live_workers(ttl)))

    def owned(self, worker_id: str) -> list[str]:
        """Connectors whose live lease ``worker_id`` holds, by name."""
        ls = self._tables["connector_leases"]
        with self.db.engine.connect() as conn:
            return list(conn.execute(select(ls.c.name).where(ls.c.worker_id == worker_id, ls.c.expires_at >= self.clock())
                                     .order_by(ls.c.name)).scalars())

    def holds(self, name: str, worker_id: str, margin: float = 0.0) -> bool:
        """Whether ``worker_id`` holds the lease of ``name`` for at least ``margin`` more seconds."""
        ls = self._tables["connector_leases"]
        until = self.clock() + dt.timedelta(seconds=margin)
        with self.db.engine.connect() as conn:
            return conn.execute(select(ls.c.name).where(ls.c.name == name, ls.c.worker_id == worker_id,
                                                        ls.c.expires_at >= until)).first() is not None

    def claim(self, worker_id: str, ttl: float) -> list[str]:
        """Take free or expired leases of active connectors, up to the fair share; returns those taken.

        Active means target RUNNING or PAUSED (a paused connector keeps its owner). Each take
        is a conditional UPDATE that succeeds for exactly one of several racing workers.
        """
        quota = self.fair_share(ttl)
        have = len(self.owned(worker_id))
        if have >= quota:
            return []
        now = self.clock()
        c, ls = self._tables["connectors"], self._tables["connector_leases"]
        free = (select(c.c.name).select_from(c.outerjoin(ls, ls.c.name == c.c.name))
                .where(c.c.target_state != "STOPPED",
                       or_(ls.c.name.is_(None), ls.c.worker_id.is_(None), ls.c.expires_at < now))
                .order_by(c.c.name))
        with self.db.engine.connect() as conn:
            candidates = list(conn.execute(free).scalars())
        taken = []
        for name in candidates:
            if have + len(taken) >= quota:
                break
            with self.db.engine.begin() as conn:
                conn.execute(self._insert_ignore(ls, {"name": name, "worker_id": None, "expires_at": None}))
                hit = conn.execute(
                    update(ls).where(ls.c.name == name,
                                     or_(ls.c.worker_id.is_(None), ls.c.expires_at.is_(None), ls.c.expires_at < now))
                    .values(worker_id=worker_id, expires_at=now + dt.timedelta(seconds=ttl))).rowcount
            if hit == 1:
                taken.append(name)
        return taken

    def renew(self, worker_id: str, names: Iterable[str], ttl: float) -> set[str]:
        """Extend the leases ``worker_id`` still holds; returns the names renewed (the others are lost)."""
        names = list(names)
        if not names:
            return set()
        now = self.clock()
        ls = self._tables["connector_leases"]
        held = and_(ls.c.name.in_(names), ls.c.worker_id == worker_id, ls.c.expires_at >= now)
        with self.db.engine.begin() as conn:
            conn.execute(update(ls).where(held).values(expires_at=now + dt.timedelta(seconds=ttl)))
            # An expired lease is lost even if nobody took it yet: the owner may not resume it.
            return set(conn.execute(select(ls.c.name).where(held)).scalars())

    def release(self, worker_id: str, names: Iterable[str] | None = None) -> int:
        """Give up leases of ``worker_id`` (all, or ``names``); returns how many were released."""
        ls = self._tables["connector_leases"]
        stmt = update(ls).where(ls.c.worker_id == worker_id)
        if names is not None:
            stmt = stmt.where(ls.c.name.in_(list(names)))
        with self.db.engine.begin() as conn:
            return conn.execute(stmt.values(worker_id=None, expires_at=None)).rowcount

    def _insert_ignore(self, table, values: dict):
        dialect = self.db.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:  # pragma: no cover - the hub supports these two
            return insert(table).values(**values)
        return dialect_insert(table).values(**values).on_conflict_do_nothing()


def _check_target(state: str) -> None:
    if state not in TARGET_STATES:
        raise ValueError(f"unknown target state {state!r}; valid: {', '.join(TARGET_STATES)}")
