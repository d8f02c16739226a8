"""Dead letters: the header format of records a connector rejected, and its parser.

A dead letter goes to ``dlq.<connector>`` (:func:`topics.catalog.dead_letter_topic`). Its
value is the original bytes exactly as the source delivered them, its key the source key,
and its headers (all UTF-8) say why and where from:

=====================  ==========================================================
``hub.connector``      connector name
``hub.stage``          decode / map / validate / serialize / produce / deliver
``hub.error.class``    class name of the error (``RecordRejected``, ``CodeError`` ...)
``hub.reason``         machine reason code (``encoding``, ``json``, ``uscc_check`` ...)
``hub.message``        human message naming fields and rules, never values
``hub.source.partition``, ``hub.source.offset``, ``hub.source.key``   source position
``hub.source.version`` source version of the record (empty if unknown)
``hub.source.encoding``, ``hub.source.content_type``   how the value was declared, so a
                       replay decodes it exactly as the first attempt did (empty if unknown)
``hub.attempts``       how many times the runner had tried the record (1 = first try)
``hub.ts``             rejection time, epoch milliseconds
=====================  ==========================================================

``hub dlq list|show|replay`` reads them back with :func:`parse_dead_letter`; a replay feeds
``value`` through the same pipeline again as a :class:`connectors.runtime.contract.RawRecord`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

HEADERS = ("hub.connector", "hub.stage", "hub.error.class", "hub.reason", "hub.message",
           "hub.source.partition", "hub.source.offset", "hub.source.key", "hub.attempts", "hub.ts",
           "hub.source.version", "hub.source.encoding", "hub.source.content_type")
"""Every dead-letter header, in the order they are written."""

_MAX_MESSAGE = 1000


def dead_letter_headers(*, connector: str, stage: str, error_class: str, reason: str, message: str,
                        partition: str, offset: str, key: str, attempts: int, ts_ms: int,
                        version: str = "", encoding: str = "", content_type: str = "") -> list[tuple[str, bytes]]:
    """The headers of one dead letter, as ``[(name, utf-8 bytes)]`` for :meth:`Producer.send`."""
    values = (connector, stage, error_class, reason, message[:_MAX_MESSAGE], partition, offset, key,
              str(attempts), str(ts_ms), version, encoding, content_type)
    return [(name, value.encode("utf-8")) for name, value in zip(HEADERS, values, strict=True)]


def parse_dead_letter(headers: Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None] | None,
                      value: bytes | None) -> dict:
    """A dead letter as a dict: ``connector``, ``stage``, ``error_class``, ``reason``, ``message``,
    ``source_partition``, ``source_offset``, ``source_key``, ``source_version``,
    ``source_encoding``, ``source_content_type`` (str or None), ``attempts`` and
    ``ts_ms`` (int or None) and ``value`` (the original bytes). Unknown headers are ignored,
    missing ones are None, so dead letters written by older versions still parse."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    raw = {name: (v.decode("utf-8", errors="replace") if v is not None else None) for name, v in pairs}

    def as_int(name: str) -> int | None:
        try:
            return int(raw[name]) if raw.get(name) is not None else None
        except ValueError:
            return None

    return {
        "connector": raw.get("hub.connector"),
        "stage": raw.get("hub.stage"),
        "error_class": raw.get("hub.error.class"),
        "reason": raw.get("hub.reason"),
        "message": raw.get("hub.message"),
        "source_partition": raw.get("hub.source.partition"),
        "source_offset": raw.get("hub.source.offset"),
        "source_key": raw.get("hub.source.key"),
        "source_version": raw.get("hub.source.version") or None,
        "source_encoding": raw.get("hub.source.encoding") or None,
        "source_content_type": raw.get("hub.source.content_type") or None,
        "attempts": as_int("hub.attempts"),
        "ts_ms": as_int("hub.ts"),
        "value": value,
    }
