"""Output records: encoded in the writer's transaction, produced afterwards by the relay.

The outbox body is the standard schema's Avro binary *without* the Confluent header, so a
writer never calls the schema registry inside a transaction; :class:`OutboxRelay` adds the
header (the subject's id, resolved once) when it produces. Rows are deleted only after
the broker acknowledged them; a row whose fate a crash left open is looked up on its topic
before it is sent again, so each output reaches its topic once (see :class:`OutboxRelay`).
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache

from fastavro import parse_schema, schemaless_writer
from sqlalchemy import Connection, delete, insert, select, update

from processors.runtime.contract import Emitted
from processors.runtime.models import OutboxCheckpoint, OutboxRelayState, OutboxRow
from processors.runtime.outbox_scan import HEADER, Scanner
from processors.runtime.relay_lock import RelayLock
from schemas import loader
from topics.catalog import get as get_topic
from topics.serde import AvroSerializer, SchemaSource, SerializationError
from topics.transport import Delivery, Producer

log = logging.getLogger("processors.outbox")

STATE = "relay"


@cache
def _parsed(topic: str):
    return parse_schema(json.loads(loader.schema_json(get_topic(topic).value_schema)))


def encode_body(topic: str, value: dict) -> bytes:
    """Avro binary of ``value`` in ``topic``'s standard schema; SerializationError if it does not fit."""
    buf = io.BytesIO()
    try:
        schemaless_writer(buf, _parsed(topic), value)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise SerializationError("schema", f"output for {topic} does not match its schema: {type(exc).__name__}") from exc
    return buf.getvalue()


def enqueue(conn: Connection, emitted: Iterable[Emitted], now: datetime | None = None) -> int:
    """Insert ``emitted`` into the outbox on ``conn`` (inside the caller's transaction)."""
    now = now or datetime.now(UTC)
    rows = [{"topic": e.topic, "key": e.key, "body": encode_body(e.topic, e.value), "created_at": now}
            for e in emitted]
    if rows:
        conn.execute(insert(OutboxRow), rows)
    return len(rows)


class OutboxRelay:
    """Produce pending outbox rows in id order, delete each once acknowledged. Thread-safe.

    Exactly one copy per row reaches the topic, across crashes, as long as the database and
    the broker keep their data:

    1. Before producing a batch the relay records its highest id (``outbox_relay``): from then
       until they are deleted, those rows are *in doubt*.
    2. Every record carries ``hub-outbox: <database token>:<row id>``.
    3. On acknowledgement the rows are deleted and, if the whole batch was acknowledged, each
       partition's checkpoint moves past the offsets it reached, in one transaction.
    4. Whenever in-doubt rows are pending (after a crash, or a failed delivery) the relay first
       reads their topics from the checkpoints (``scanner``) and deletes the rows it finds
       there; only the others are produced again.

    Only the holder of :class:`RelayLock` relays, so two hosts never send the same row.
    Without a ``scanner`` (unit tests), in-doubt rows are simply resent: at-least-once.
    """

    def __init__(self, engine, producer: Producer, registry: SchemaSource, batch: int = 2000,
                 scanner: Scanner | None = None, lock: RelayLock | None = None) -> None:
        self.engine = engine
        self.producer = producer
        self.registry = registry
        self.batch = batch
        self.scanner = scanner
        self.lock = lock or RelayLock(engine)
        self._headers: dict[str, bytes] = {}
        self._lock = threading.Lock()
        # (token, inflight_max_id) as last read or written: only the lock holder writes the row,
        # so the copy stays true while this relay holds the lock (re-read after acquiring it).
        self._cached: tuple[str, int] | None = None
        self._cached_generation = -1
        self.sent = 0
        self.recovered = 0  # in-doubt rows found already on the broker (not sent again)
        self.resent = 0  # in-doubt rows not found, sent again

    def _header(self, topic: str) -> bytes:
        header = self._headers.get(topic)
        if header is None:
            spec = get_topic(topic)
            serializer = AvroSerializer(self.registry, spec.value_subject, loader.schema_json(spec.value_schema))
            header = self._headers[topic] = serializer.header
        return header

    def pending(self) -> int:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(OutboxRow)).scalar_one()

    def _state(self) -> tuple[str, int]:
        """(token, inflight_max_id), creating the state row on first use."""
        with self.engine.begin() as conn:
            row = conn.execute(select(OutboxRelayState.token, OutboxRelayState.inflight_max_id)
                               .where(OutboxRelayState.name == STATE)).first()
            if row is None:
                token = secrets.token_hex(8)
                conn.execute(insert(OutboxRelayState).values(name=STATE, token=token, inflight_max_id=0))
                return token, 0
            return row.token, row.inflight_max_id

    def _select(self) -> list:
        with self.engine.connect() as conn:
            return conn.execute(
                select(OutboxRow.id, OutboxRow.topic, OutboxRow.key, OutboxRow.body)
                .order_by(OutboxRow.id).limit(self.batch)
            ).all()

    def relay(self) -> int:
        """Send up to ``batch`` rows and wait for them; returns how many were acknowledged."""
        with self._lock:
            if not self.lock.acquire():
                return 0
            if self.lock.generation != self._cached_generation:
                self._cached, self._cached_generation = None, self.lock.generation
            rows = self._select()
            if not rows:
                return 0
            token, inflight_max = self._cached or self._state()
            if rows[0].id <= inflight_max and self.scanner is not None:
                self._settle(token, inflight_max)
                rows = self._select()
                if not rows:
                    return 0
            with self.engine.begin() as conn:
                conn.execute(update(OutboxRelayState).where(OutboxRelayState.name == STATE)
                             .values(inflight_max_id=rows[-1].id))
            self._cached = (token, rows[-1].id)
            acked: list[tuple[int, Delivery]] = []
            failed: list[Exception] = []

            def done(row_id: int):
                def callback(delivery: Delivery) -> None:
                    (acked.append((row_id, delivery)) if delivery.ok else failed.append(delivery.error))
                return callback

            prefix = f"{token}:".encode("ascii")
            for row_id, topic, key, body in rows:
                self.producer.send(topic, self._header(topic) + body, key=key.encode("utf-8"),
                                   headers=[(HEADER, prefix + str(row_id).encode("ascii"))],
                                   on_delivery=done(row_id))
            self.producer.flush(30)
            if acked:
                # Checkpoints move only when nothing of the batch is in doubt: a failed record may
                # still sit below an acknowledged one, and the next scan must start before it.
                ends = {} if failed or len(acked) < len(rows) else _ends(d for _, d in acked)
                with self.engine.begin() as conn:
                    _delete_rows(conn, [row_id for row_id, _ in acked])
                    _save_checkpoints(conn, ends)
            if failed:
                log.warning("outbox: %d of %d sends failed; they stay pending (%s)",
                            len(failed), len(rows), type(failed[0]).__name__)
            self.sent += len(acked)
            return len(acked)

    def _settle(self, token: str, inflight_max: int) -> None:
        """Delete the in-doubt rows already on their topics; the rest are then sent again."""
        with self.engine.connect() as conn:
            doubt = conn.execute(select(OutboxRow.id, OutboxRow.topic)
                                 .where(OutboxRow.id <= inflight_max)).all()
            checkpoints = conn.execute(select(OutboxCheckpoint.topic, OutboxCheckpoint.partition,
                                              OutboxCheckpoint.next_offset)).all()
        by_topic: dict[str, dict[bytes, int]] = {}
        for row_id, topic in doubt:
            by_topic.setdefault(topic, {})[f"{token}:{row_id}".encode("ascii")] = row_id
        for topic, wanted in sorted(by_topic.items()):
            start = {p: o for t, p, o in checkpoints if t == topic}
            result = self.scanner(topic, start, set(wanted))
            on_broker = [wanted[v] for v in result.found]
            with self.engine.begin() as conn:
                _delete_rows(conn, on_broker)
                _save_checkpoints(conn, {(topic, p): o for p, o in result.ends.items()})
            self.recovered += len(on_broker)
            self.resent += len(wanted) - len(on_broker)
            log.warning("outbox: %d in-doubt rows for %s: %d already on the broker, %d to send again",
                     len(wanted), topic, len(on_broker), len(wanted) - len(on_broker))

    def drain(self, max_rounds: int = 1000) -> int:
        """Relay until the outbox is empty or a round makes no progress."""
        total = 0
        for _ in range(max_rounds):
            n = self.relay()
            total += n
            if n == 0:
                break
        return total

    def close(self) -> None:
        self.lock.release()


def _ends(deliveries) -> dict[tuple[str, int], int]:
    ends: dict[tuple[str, int], int] = {}
    for d in deliveries:
        key = (d.topic, d.partition)
        if d.offset is not None and d.offset + 1 > ends.get(key, -1):
            ends[key] = d.offset + 1
    return ends


def _save_checkpoints(conn: Connection, ends: dict[tuple[str, int], int]) -> None:
    for (topic, partition), offset in sorted(ends.items()):
        changed = conn.execute(update(OutboxCheckpoint)
                               .where(OutboxCheckpoint.topic == topic, OutboxCheckpoint.partition == partition)
                               .values(next_offset=offset)).rowcount
        if not changed:
            conn.execute(insert(OutboxCheckpoint).values(topic=topic, partition=partition, next_offset=offset))


def _delete_rows(conn: Connection, ids: list[int]) -> None:
    for i in range(0, len(ids), 500):  # bounded IN lists
        conn.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids[i:i + 500])))
