"""In-memory stand-ins for the runner's collaborators: the broker is not the point of unit tests."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from connectors.runtime.contract import Mapped, MappingError, RawRecord, SourceTask
from topics.transport import Delivery, Producer

PENALTY = "penalty.case.events"
DATE_FIELDS = ("filing_date", "decision_date", "legal_review_date", "closing_date")


def to_json(value) -> str:
    """A standard value as a source system would send it: ISO dates, decimals as strings."""
    def default(o):
        if isinstance(o, dt.date):
            return o.isoformat()
        if isinstance(o, Decimal):
            return str(o)
        raise TypeError(type(o).__name__)
    return json.dumps(value, ensure_ascii=False, default=default)


def penalty_mapper(doc, raw: RawRecord) -> list[Mapped]:
    """A nearly-identity mapper for ``{"case": <standard value as JSON>}`` documents."""
    if not isinstance(doc, dict) or not isinstance(doc.get("case"), dict):
        raise MappingError("missing_field", "document has no 'case' object")
    value = doc["case"]
    for name in DATE_FIELDS:
        if isinstance(value.get(name), str):
            value[name] = dt.date.fromisoformat(value[name])
    if isinstance(value.get("fine_amount"), str):
        value["fine_amount"] = Decimal(value["fine_amount"])
    return [Mapped(PENALTY, value)]


class ListTask(SourceTask):
    """Serves a fixed list of records; offsets are positions per partition, resumable."""

    def __init__(self, records: list[RawRecord]):
        self.records = records
        self.opened: list[dict] = []
        self.closed = 0
        self._pos = 0

    def open(self, offsets):
        self.opened.append(dict(offsets))
        # Resume after the committed offset of each partition: skip what is committed.
        self._pending = [r for r in self.records
                         if r.partition not in offsets or int(r.offset) > int(offsets[r.partition])]
        self._pos = 0

    def poll(self, max_records):
        batch = self._pending[self._pos:self._pos + max_records]
        self._pos += len(batch)
        return batch

    def close(self):
        self.closed += 1


class FakeProducer(Producer):
    """Queues sends; ``flush`` reports each outcome. ``fail`` decides which sends fail."""

    def __init__(self, fail=lambda topic, value, key: False, refuse=lambda topic, value: False):
        self.fail, self.refuse = fail, refuse
        self.sent: list[dict] = []  # every acknowledged record
        self.queue: list[tuple] = []
        self._offsets: dict[str, int] = {}

    def send(self, topic, value, key=None, headers=None, on_delivery=None, partition=None):
        if self.refuse(topic, value):
            raise ValueError("MessageSizeTooLargeError: record too large")
        self.queue.append((topic, value, key, list(headers or []), on_delivery))

    def flush(self, timeout=None):
        queue, self.queue = self.queue, []
        for topic, value, key, headers, cb in queue:
            if self.fail(topic, value, key):
                cb and cb(Delivery(topic, 0, None, RuntimeError("NOT_ENOUGH_REPLICAS")))
                continue
            off = self._offsets[topic] = self._offsets.get(topic, -1) + 1
            self.sent.append({"topic": topic, "value": value, "key": key, "headers": dict(headers)})
            cb and cb(Delivery(topic, 0, off))
        return 0

    def close(self):
        self.flush()

    def on(self, topic):
        return [m for m in self.sent if m["topic"] == topic]


class FakeRegistry:
    """Hands out schema ids per subject; enough for AvroSerializer/AvroDeserializer."""

    def __init__(self):
        self.schemas: dict[int, str] = {}
        self.ids: dict[tuple[str, str], int] = {}

    def schema_id(self, subject, schema_str):
        if (subject, schema_str) not in self.ids:
            self.ids[(subject, schema_str)] = len(self.schemas) + 1
            self.schemas[len(self.schemas) + 1] = schema_str
        return self.ids[(subject, schema_str)]

    def get_schema(self, schema_id):
        return self.schemas[schema_id]
