"""Output records: encoded in the writer's transaction, produced afterwards by the relay.

The outbox body is the standard schema's Avro binary *without* the Confluent header, so a
writer never calls the schema registry inside a transaction; :class:`OutboxRelay` adds the
header (the subject's id, resolved once) when it produces. Rows are deleted only after
the broker acknowledged them: a crash in between produces them again (at-least-once; every
output topic is keyed, and registry topics are compacted, so a repeat is harmless).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache

from fastavro import parse_schema, schemaless_writer
from sqlalchemy import Connection, delete, insert, select

from processors.runtime.contract import Emitted
from processors.runtime.models import OutboxRow
from schemas import loader
from topics.catalog import get as get_topic
from topics.serde import AvroSerializer, SchemaSource, SerializationError
from topics.transport import Delivery, Producer

log = logging.getLogger("processors.outbox")


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
    """Produce pending outbox rows in id order, delete each once acknowledged. Thread-safe."""

    def __init__(self, engine, producer: Producer, registry: SchemaSource, batch: int = 2000) -> None:
        self.engine = engine
        self.producer = producer
        self.registry = registry
        self.batch = batch
        self._headers: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.sent = 0

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

    def relay(self) -> int:
        """Send up to ``batch`` rows and wait for them; returns how many were acknowledged."""
        with self._lock:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(OutboxRow.id, OutboxRow.topic, OutboxRow.key, OutboxRow.body)
                    .order_by(OutboxRow.id).limit(self.batch)
                ).all()
            if not rows:
                return 0
            acked: list[int] = []
            failed: list[Exception] = []

            def done(row_id: int):
                def callback(delivery: Delivery) -> None:
                    (acked.append(row_id) if delivery.ok else failed.append(delivery.error))
                return callback

            for row_id, topic, key, body in rows:
                self.producer.send(topic, self._header(topic) + body, key=key.encode("utf-8"),
                                   on_delivery=done(row_id))
            self.producer.flush(30)
            if acked:
                with self.engine.begin() as conn:
                    for chunk in _chunks(acked, 500):
                        conn.execute(delete(OutboxRow).where(OutboxRow.id.in_(chunk)))
            if failed:
                log.warning("outbox: %d of %d sends failed; they stay pending (%s)",
                            len(failed), len(rows), type(failed[0]).__name__)
            self.sent += len(acked)
            return len(acked)

    def drain(self, max_rounds: int = 1000) -> int:
        """Relay until the outbox is empty or a round makes no progress."""
        total = 0
        for _ in range(max_rounds):
            n = self.relay()
            total += n
            if n == 0:
                break
        return total


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
