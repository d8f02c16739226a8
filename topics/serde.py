"""The Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary (fastavro).

Anything that reads Confluent-framed Avro (confluent-kafka's ``AvroDeserializer``,
Kafka Connect, ksqlDB) can read hub topics given the hub's schema registry, and
the hub reads what those tools write. Subjects follow the TopicNameStrategy:
``{topic}-value``. Schema ids are cached per process: a serializer registers (or
looks up) its schema once, a deserializer fetches each writer schema once.
"""

from __future__ import annotations

import io
import json
import struct
import threading
from typing import Protocol

from fastavro import parse_schema, schemaless_reader, schemaless_writer

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")


class SerializationError(ValueError):
    """A record could not be encoded or a message could not be decoded.

    ``reason`` is a machine code (``schema``, ``framing``, ``unknown_schema_id``, ``decode``)
    so dead-letter headers can carry it; the message never contains field values.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class SchemaSource(Protocol):
    """What the serde needs from a schema registry (``hub_api.registry.client.RegistryClient``)."""

    def schema_id(self, subject: str, schema_str: str) -> int:
        """Id of ``schema_str`` under ``subject``, registering it if needed."""

    def get_schema(self, schema_id: int) -> str: ...


def subject_for(topic: str) -> str:
    """The value subject of ``topic`` (TopicNameStrategy)."""
    return f"{topic}-value"


class AvroSerializer:
    """Encode dicts for one subject; resolves the schema id on first use, then caches it.

    Thread-safe. ``__call__`` raises :class:`SerializationError` (reason ``schema``) when
    the record does not match the schema.
    """

    def __init__(self, registry: SchemaSource, subject: str, schema_str: str):
        self._registry = registry
        self.subject = subject
        self.schema_str = schema_str
        self._parsed = parse_schema(json.loads(schema_str))
        self._header: bytes | None = None
        self._lock = threading.Lock()

    @property
    def schema_id(self) -> int:
        return _HEADER.unpack(self.header)[1]

    @property
    def header(self) -> bytes:
        if self._header is None:
            with self._lock:
                if self._header is None:
                    schema_id = self._registry.schema_id(self.subject, self.schema_str)
                    self._header = _HEADER.pack(MAGIC_BYTE, schema_id)
        return self._header

    def __call__(self, record: dict) -> bytes:
        buf = io.BytesIO()
        buf.write(self.header)
        try:
            schemaless_writer(buf, self._parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            # fastavro messages can quote values; report the error class and field only.
            raise SerializationError("schema", f"record does not match {self.subject}: {type(exc).__name__}: {_safe(exc)}") from exc
        return buf.getvalue()


class AvroDeserializer:
    """Decode Confluent-framed Avro; writer schemas fetched by id and cached. Thread-safe.

    With ``reader_schema`` the record is resolved to that schema (schema evolution);
    otherwise it is returned as written.
    """

    def __init__(self, registry: SchemaSource, reader_schema: str | None = None):
        self._registry = registry
        self._reader = parse_schema(json.loads(reader_schema)) if reader_schema else None
        self._writers: dict[int, dict] = {}
        self._lock = threading.Lock()

    def writer_schema(self, schema_id: int) -> dict:
        parsed = self._writers.get(schema_id)
        if parsed is None:
            with self._lock:
                try:
                    text = self._registry.get_schema(schema_id)
                except Exception as exc:  # registry errors vary by client
                    raise SerializationError("unknown_schema_id", f"schema id {schema_id}: {exc}") from exc
                parsed = self._writers[schema_id] = parse_schema(json.loads(text))
        return parsed

    def __call__(self, data: bytes) -> dict:
        if len(data) < _HEADER.size or data[0] != MAGIC_BYTE:
            raise SerializationError("framing", "not Confluent-framed Avro (magic byte 0 + 4-byte schema id)")
        _, schema_id = _HEADER.unpack_from(data)
        writer = self.writer_schema(schema_id)
        try:
            return schemaless_reader(io.BytesIO(data[_HEADER.size:]), writer, self._reader)
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad message
            raise SerializationError("decode", f"Avro decode failed for schema id {schema_id}: {type(exc).__name__}") from exc


def schema_id_of(data: bytes) -> int:
    """The schema id in a Confluent-framed message."""
    if len(data) < _HEADER.size or data[0] != MAGIC_BYTE:
        raise SerializationError("framing", "not Confluent-framed Avro")
    return _HEADER.unpack_from(data)[1]


def _safe(exc: Exception) -> str:
    # fastavro's messages look like "<value> (type <class>) do not match <schema>"; keep the tail only.
    text = str(exc)
    return text.rsplit(" do not match ", 1)[-1][:200] if " do not match " in text else text[:200]
