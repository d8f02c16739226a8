"""The record pipeline's stages, each failing with an explicit :class:`RecordRejected`.

Stages, in the order the runner applies them: ``decode`` (bytes -> text with the declared
encoding -> document by content type), ``map`` (the adapter's mapper), ``validate`` (Avro
schema, then :data:`connectors.runtime.rules.CODE_RULES`), ``serialize`` (Confluent-framed
Avro), ``produce`` (refused locally, e.g. too large) and ``deliver`` (refused by the broker,
used by sinks). Identifier repair (:func:`repair`) runs between decode and map and never
rejects.

Rejection messages name stages, fields and rules, never values: records carry ID numbers
and names of natural persons. Pure functions; safe on any thread.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from typing import Any

from fastavro.validation import validate as avro_validate

from connectors.declarative.decoders import decode_csv, decode_xml
from connectors.runtime.contract import Doc, RawRecord
from connectors.runtime.rules import CODE_RULES, Rule, check_rules
from schemas import loader
from schemas.codes import CodeError, normalize_identifier

STAGES = ("decode", "map", "validate", "serialize", "produce", "deliver")
"""Every stage a record can be rejected at (the ``hub.stage`` dead-letter header)."""


class RecordRejected(Exception):
    """A record failed ``stage`` for ``reason`` (machine code); ``message`` never holds values."""

    def __init__(self, stage: str, reason: str, message: str):
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; valid stages: {', '.join(STAGES)}")
        super().__init__(f"{stage}/{reason}: {message}")
        self.stage, self.reason, self.message = stage, reason, message


def _json(text: str) -> Doc:
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError: position only, the message quotes no data
        raise RecordRejected("decode", "json", f"invalid JSON at line {exc.lineno} column {exc.colno}") from None


DECODERS: dict[str, Callable[[str], Doc]] = {
    "application/json": _json,
    "text/plain": lambda text: text,
    "application/xml": decode_xml,  # one record element -> dict, defusedxml (no DTD/entities)
    "text/csv": decode_csv,  # one comma-separated record -> list of fields
}
"""Content type -> decoder of the already-decoded text. Add ``application/xml``, ``text/csv`` here."""


def decode(raw: RawRecord, default_encoding: str = "utf-8") -> Doc:
    """Decode ``raw.payload`` strictly with its declared encoding, then parse it by content type.

    Reasons: ``encoding`` (bytes invalid in the declared encoding, or an unknown encoding),
    ``content_type`` (no decoder), ``json`` (not JSON). A record carrying its
    :attr:`~connectors.runtime.contract.RawRecord.decoded` document gets a copy of that
    instead (flat, so a shallow copy; the caller may repair it in place).
    """
    if raw.decoded is not None:
        return dict(raw.decoded)
    encoding = raw.encoding or default_encoding
    try:
        text = raw.payload.decode(encoding, errors="strict")
    except UnicodeDecodeError as exc:
        raise RecordRejected("decode", "encoding", f"bytes at position {exc.start} are not valid {encoding}") from None
    except LookupError:
        raise RecordRejected("decode", "encoding", f"unknown encoding {encoding!r}") from None
    decoder = DECODERS.get(raw.content_type)
    if decoder is None:
        raise RecordRejected("decode", "content_type",
                             f"no decoder for {raw.content_type!r}; valid: {', '.join(DECODERS)}")
    return decoder(text)


def repair(doc: Doc, fields: Iterable[str]) -> Doc:
    """Apply :func:`schemas.codes.normalize_identifier` to the strings at each dotted path.

    Full-width digits and letters become half-width, whitespace is dropped, letters are
    upper-cased. Walks into lists; absent paths and non-strings are left alone. Mutates
    and returns ``doc`` (a freshly decoded document owned by the runner). The paths are
    parsed once per distinct ``fields`` tuple (the runner passes the same one every record,
    or calls :func:`repairer` once).
    """
    repairer(fields if isinstance(fields, tuple) else tuple(fields))(doc)
    return doc


@lru_cache(maxsize=256)
def repairer(fields: tuple[str, ...]) -> Callable[[Any], None]:
    """``fn(doc)``: :func:`repair` of ``fields``, the paths parsed once; columns of a flat row in one loop."""
    walkers = tuple(_repairer(path) for path in fields)
    if any("." in path for path in fields):
        def repair_paths(doc: Any) -> None:
            for walk in walkers:
                walk(doc)
        return repair_paths

    def repair_columns(doc: Any) -> None:  # the common case: columns of a flat row
        if not isinstance(doc, dict):
            for walk in walkers:
                walk(doc)
            return
        for leaf in fields:
            v = doc.get(leaf)
            if isinstance(v, str):
                doc[leaf] = _normalized(v)
    return repair_columns


def _normalized(s: str) -> str:
    # Most identifiers arrive clean: ASCII letters and digits have no full-width forms and no
    # whitespace, so normalize_identifier would only upper-case them.
    return s.upper() if s.isascii() and s.isalnum() else normalize_identifier(s)


def _repairer(path: str) -> Callable[[Any], None]:
    *parents, leaf = path.split(".")
    depth = len(parents)

    def walk(node: Any, i: int) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, i)
        elif isinstance(node, dict):
            if i == depth:
                if isinstance(node.get(leaf), str):
                    node[leaf] = _normalized(node[leaf])
            else:
                walk(node.get(parents[i]), i + 1)

    return lambda doc: walk(doc, 0)


@cache
def _parsed(schema: str) -> dict:
    return loader.load(schema)


@cache
def _named_types(schema: str) -> dict[str, dict]:
    names: dict[str, dict] = {}

    def collect(node: Any) -> None:
        if isinstance(node, list):
            for branch in node:
                collect(branch)
        elif isinstance(node, dict):
            if node.get("type") in ("record", "enum", "fixed"):
                names[node["name"]] = node
            for field in node.get("fields", ()):
                collect(field["type"])
            collect(node.get("items"))
            collect(node.get("values"))

    collect(_parsed(schema))
    return names


def _kind(node: Any) -> str:
    if isinstance(node, list):
        return "|".join(_kind(b) for b in node)
    if isinstance(node, dict):
        return node.get("logicalType") or node.get("type", "?")
    return str(node).rsplit(".", 1)[-1]


def _first_bad_field(node: Any, datum: Any, path: str, names: dict[str, dict]) -> tuple[str, str] | None:
    """(dotted path, expected type) of the first part of ``datum`` that breaks ``node``, or None.

    fastavro reports a bad nested field at its enclosing union (``counterpart``) and by
    record name; this walk names the field by its path (``counterpart.id_code``).
    """
    if isinstance(node, str) and node in names:
        node = names[node]
    if isinstance(node, list):
        if any(_first_bad_field(b, datum, path, names) is None for b in node):
            return None
        for branch in node:
            resolved = names.get(branch, branch) if isinstance(branch, str) else branch
            if isinstance(resolved, dict) and resolved.get("type") == "record" and isinstance(datum, dict):
                return _first_bad_field(resolved, datum, path, names)
        return path, _kind(node)
    kind = node.get("type") if isinstance(node, dict) else node
    if kind == "record":
        if not isinstance(datum, dict):
            return path, "record"
        for field in node["fields"]:
            sub = f"{path}.{field['name']}" if path else field["name"]
            bad = _first_bad_field(field["type"], datum.get(field["name"]), sub, names)
            if bad:
                return bad
        return None
    if kind in ("array", "map"):
        items = datum if kind == "array" and isinstance(datum, list) else (
            datum.values() if kind == "map" and isinstance(datum, dict) else None)
        if items is None:
            return path, kind
        for item in items:
            bad = _first_bad_field(node["items" if kind == "array" else "values"], item, path, names)
            if bad:
                return bad
        return None
    if kind == "enum":
        return None if datum in node["symbols"] else (path, "enum")
    return None if avro_validate(datum, node, raise_errors=False) else (path, _kind(node))


def validate(schema: str, value: dict, rules: dict[str, list[Rule]] = CODE_RULES) -> None:
    """Check ``value`` against Avro schema ``schema`` (full name), then its code rules.

    Reasons: ``schema`` (message names the field and expected type, never the value) or
    the :class:`schemas.codes.CodeError` reason of the first failing rule.
    """
    check_schema(schema, value)
    check_code_rules(schema, value, rules)


def check_schema(schema: str, value: dict) -> None:
    """Reject ``value`` (stage validate, reason ``schema``) if it does not match the Avro schema."""
    # raise_errors=False: with True fastavro builds (and JSON-dumps) an exception per union
    # branch it tries, ~7x slower on valid records; the walk below names the field instead.
    if not avro_validate(value, _parsed(schema), raise_errors=False):
        field, kind = _first_bad_field(_parsed(schema), value, "", _named_types(schema)) or ("<record>", "record")
        raise RecordRejected("validate", "schema", f"field {field} does not match the schema (expected {kind})") from None


def check_code_rules(schema: str, value: dict, rules: dict[str, list[Rule]] = CODE_RULES) -> None:
    """Reject ``value`` with the reason of the first failing code rule of ``schema``."""
    try:
        check_rules(schema, value, rules)
    except CodeError as exc:
        raise RecordRejected("validate", exc.reason, f"{exc.field or '<record>'}: {exc.message}") from None


def record_id(source_system: str, key: str, version: str) -> str:
    """Deterministic record id ``<system>:<sha256(key)[:16]>:<version>``.

    The same source row at the same version always gets the same id, so downstream
    deduplicates replays. The key is hashed because some systems key rows by ID numbers.
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{source_system}:{digest}:{version}"


def stamp_envelope(value: dict, *, record_id: str, source_system: str, raw: RawRecord, ingest_time_ms: int) -> None:
    """Stamp the runner-owned envelope fields onto ``value['envelope']`` if it has one.

    Sets ``record_id``, ``source_system``, ``source_position`` {partition, offset},
    ``source_key`` (the department-side primary key as given: a case or row key, not a
    personal ID number -- adapters whose keys are ID numbers must pass a surrogate),
    ``source_version`` and ``ingest_time``. The mapper fills the rest.
    """
    envelope = value.get("envelope")
    if not isinstance(envelope, dict):
        return
    envelope["record_id"] = record_id
    envelope["source_system"] = source_system
    envelope["source_position"] = {"partition": raw.partition, "offset": raw.offset}
    envelope["source_key"] = raw.key
    envelope["source_version"] = raw.version
    envelope["ingest_time"] = ingest_time_ms
