"""Avro schema parsing, fingerprints and compatibility levels for the schema registry.

The reader/writer rules are Apache Avro's own (:class:`avro.compatibility.ReaderWriterCompatibilityChecker`);
this module only decides *which* pairs to check for a compatibility level and turns the
checker's result into messages a person can act on, e.g.
``"BACKWARD with version 2: /fields/1/type: reader type 'int' not compatible with writer type 'string'"``.
Everything here is pure and thread-safe (a new checker per pair).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
    lookup_writer_field,
)
from fastavro.schema import parse_schema, to_parsing_canonical_form

LEVELS: tuple[str, ...] = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)


class InvalidSchemaError(ValueError):
    """The schema text is not valid JSON or not a valid Avro schema; ``str()`` says why."""


@dataclass(frozen=True)
class ParsedSchema:
    """A validated schema: stored text, Parsing Canonical Form, fingerprint and the Avro object.

    ``text`` is the registered JSON re-serialised compactly (key order, ``doc``, defaults and
    custom attributes such as ``"pii"`` kept). ``fingerprint`` is the SHA-256 of that JSON with
    sorted keys, so two schemas that differ only in a default or a custom attribute get
    different ids (as in Confluent), while whitespace and key order do not matter.
    """

    text: str
    canonical: str
    fingerprint: str
    avro: avro.schema.Schema


def parse(text: str) -> ParsedSchema:
    """Parse and normalise ``text``; raise :class:`InvalidSchemaError` with the parser's message."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InvalidSchemaError(f"Invalid schema: not JSON: {exc}") from exc
    try:
        parsed = avro.schema.parse(text)
        canonical = to_parsing_canonical_form(parse_schema(doc))
    except Exception as exc:  # noqa: BLE001 - both parsers raise assorted exception types
        raise InvalidSchemaError(f"Invalid schema: {exc}") from exc
    compact = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    keyed = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return ParsedSchema(
        text=compact,
        canonical=canonical,
        fingerprint=hashlib.sha256(keyed.encode("utf-8")).hexdigest(),
        avro=parsed,
    )


def normalise_level(level: str) -> str | None:
    """The upper-case level name, or None when ``level`` is not one of :data:`LEVELS`."""
    name = str(level).strip().upper()
    return name if name in LEVELS else None


_TYPE_MISMATCH = re.compile(r"reader type: (\S+) not compatible with writer type: (\S+)")


def _describe(kind: SchemaIncompatibilityType | None, message: str) -> str:
    if kind is SchemaIncompatibilityType.reader_field_missing_default_value:
        return (
            f"reader field '{message}' has no default value and is missing from the writer schema"
        )
    if kind is SchemaIncompatibilityType.missing_enum_symbols:
        return f"reader enum lacks writer symbols {message}"
    if kind is SchemaIncompatibilityType.name_mismatch:
        return f"reader name differs from writer name ({message})"
    if kind is SchemaIncompatibilityType.fixed_size_mismatch:
        return f"fixed size differs ({message})"
    return _TYPE_MISMATCH.sub(r"reader type '\1' not compatible with writer type '\2'", message)


def _single_location(result: SchemaCompatibilityResult) -> str:
    # Merging with a compatible result adds the root "/" to the location set: drop it.
    real = result.locations - {"/"}
    return next(iter(real)) if len(real) == 1 else "/"


class _LeafCollector(ReaderWriterCompatibilityChecker):
    """Avro's checker, additionally remembering each single incompatibility with its location.

    Avro merges messages and locations into unordered sets; pairing them back is only
    possible where a sub-result holds exactly one incompatibility, which is what we record.
    """

    def __init__(self) -> None:
        super().__init__()
        self.leaves: dict[tuple[str, str], SchemaIncompatibilityType] = {}

    def get_compatibility(self, reader, writer, reference_token="/", location=None):
        result = super().get_compatibility(reader, writer, reference_token, location)
        if (
            result.compatibility is SchemaCompatibilityType.incompatible
            and len(result.incompatibilities) == 1
            and len(result.messages) == 1
        ):
            key = (_single_location(result), next(iter(result.messages)))
            self.leaves.setdefault(key, result.incompatibilities[0])
        return result

    def check_reader_writer_record_fields(self, reader, writer, location):
        result = super().check_reader_writer_record_fields(reader, writer, location)
        missing = SchemaIncompatibilityType.reader_field_missing_default_value
        if missing in result.incompatibilities:
            for i, field in enumerate(reader.fields):
                if field.name in result.messages and lookup_writer_field(writer, field) is None:
                    path = "/".join([*location, "fields", str(i)])[1:]
                    self.leaves.setdefault((path, field.name), missing)
        return result


def reader_writer_messages(reader: avro.schema.Schema, writer: avro.schema.Schema) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer``: ``"<location>: <reason>"`` lines.

    An empty list means compatible.
    """
    checker = _LeafCollector()
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    out: list[str] = []
    seen: set[str] = set()
    for (loc, msg), kind in sorted(checker.leaves.items()):
        # Leaves from union branches tried and abandoned by Avro are not part of the result.
        if msg in result.messages and (loc in result.locations or loc == "/"):
            out.append(f"{loc}: {_describe(kind, msg)}")
            seen.add(msg)
    rest = sorted(result.messages - seen)
    if rest:
        locs = sorted(result.locations - {"/"}) or ["/"]
        where = locs[0] if len(locs) == 1 and len(rest) == 1 else "one of " + ", ".join(locs)
        kinds = set(result.incompatibilities)
        kind = next(iter(kinds)) if len(kinds) == 1 else None
        out.extend(f"{where}: {_describe(kind, msg)}" for msg in rest)
    return out


def check(
    new: avro.schema.Schema,
    existing: Sequence[tuple[int, avro.schema.Schema]],
    level: str,
) -> list[str]:
    """Messages explaining why ``new`` violates ``level`` against ``existing``; empty if it does not.

    ``existing`` holds ``(version, schema)`` of the subject's live versions, oldest first.
    BACKWARD: the new schema (reader) reads data of the previous one (writer); FORWARD: the
    previous schema reads data of the new one; FULL: both. Without ``_TRANSITIVE`` only the
    latest version is checked; with it every version in ``existing``.
    """
    name = normalise_level(level)
    if name is None:
        raise ValueError(f"unknown compatibility level {level!r}; valid: {', '.join(LEVELS)}")
    if name == "NONE" or not existing:
        return []
    targets = existing if name.endswith("_TRANSITIVE") else existing[-1:]
    base = name.removesuffix("_TRANSITIVE")
    messages: list[str] = []
    for version, old in reversed(targets):
        if base in ("BACKWARD", "FULL"):
            messages += [
                f"BACKWARD with version {version} (new schema cannot read its data): {m}"
                for m in reader_writer_messages(new, old)
            ]
        if base in ("FORWARD", "FULL"):
            messages += [
                f"FORWARD with version {version} (it cannot read the new schema's data): {m}"
                for m in reader_writer_messages(old, new)
            ]
    return messages
