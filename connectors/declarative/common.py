"""What every declarative source config shares, and how a record's key and version are derived.

:class:`DeclarativeSource` is the base of every declarative plugin config: the mapping rules,
the source paths giving :attr:`RawRecord.key` / :attr:`RawRecord.version` (the record id is
source system + key + version) and the identifier fields the runner repairs before mapping.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.avro_types import tokens
from connectors.mapping import DeclarativeMapper, MappingSpec, get_path
from connectors.runtime.contract import SourceTask
from connectors.runtime.plugin import SourceParts


class DeclarativeSource(BaseModel):
    """Fields shared by every declarative source config."""

    model_config = ConfigDict(extra="forbid")
    mapping: MappingSpec = Field(description="Mapping rules from a source record to one standard record.")
    key: str = Field(description="Source path of the department-side business key (e.g. `ajbh`), or a template "
                                 "such as `{dept}-{ajbh}`.")
    version: str | None = Field(None, description="Source path (or template) of the row version (`updated_seq`, "
                                                  "`updated_at`); absent: a hash of the record's content.")
    identifier_fields: list[str] = Field(
        default_factory=list, description="Source paths of identifiers to repair (full-width digits, spaces) "
                                          "before mapping, e.g. `dsr_zjhm`.")


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return "" if v is None else str(v)


def _pick(doc: Any, path: str) -> str:
    if "{" in path:
        out, rest = [], path
        while "{" in rest:
            head, _, tail = rest.partition("{")
            name, _, rest = tail.partition("}")
            out += [head, _text(get_path(doc, name))]
        return "".join([*out, rest])
    return _text(get_path(doc, path))


@lru_cache(maxsize=1024)
def picker(path: str) -> Callable[[dict], str]:
    """``doc -> _pick(doc, path)`` for a document that is a dict, the path read once (paths come from config)."""
    if "{" not in path and tokens(path) == ((path, ""),):  # a field name: get_path is doc.get(path)
        return lambda doc: _text(doc.get(path))
    return lambda doc: _pick(doc, path)


def identity(config: DeclarativeSource, doc: Any, payload: bytes | Callable[[], bytes],
             fallback: str) -> tuple[str, str]:
    """``(key, version)`` of a source document; ``fallback`` (its position) when it has no key.

    A record without a key is still handed to the runner (it is rejected by mapping or
    validation and dead-lettered with its position), never silently dropped. ``payload`` is
    only read -- hashed into the version -- when the config names no version (or ``doc`` is
    not an object); it may then be given as a function returning the bytes.
    """
    return identifier(config.key, config.version)(doc, payload, fallback)


Identify = Callable[[Any, Any, str], tuple[str, str]]
"""``identify(doc, payload, fallback) -> (key, version)``."""


@lru_cache(maxsize=256)
def identifier(key: str, version: str | None) -> Identify:
    """:func:`identity` for a config's ``key`` and ``version`` paths, the paths compiled once (a poller keeps it)."""
    key_of = picker(key)
    version_of = picker(version) if version is not None else None

    def identify(doc: Any, payload: bytes | Callable[[], bytes], fallback: str) -> tuple[str, str]:
        is_object = isinstance(doc, dict)
        found = key_of(doc) if is_object else ""
        if version_of is not None and is_object:
            version = version_of(doc)
        else:
            version = hashlib.sha256(payload() if callable(payload) else payload).hexdigest()[:16]
        return found or fallback, version
    return identify


def json_default(o: Any) -> Any:
    """JSON for values SQL drivers return: ISO dates and times, decimals as strings, bytes as hex."""
    if isinstance(o, dt.datetime | dt.date | dt.time):
        return o.isoformat()
    if isinstance(o, decimal.Decimal):
        return str(o)
    if isinstance(o, bytes | bytearray | memoryview):
        return bytes(o).hex()
    raise TypeError(f"cannot serialise {type(o).__name__} as JSON")


# What json.dumps(doc, ensure_ascii=False, default=json_default, separators=(",", ":")) builds
# on every call; one instance gives the same text without rebuilding it per record.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=json_default, separators=(",", ":"))


def to_payload(doc: Any) -> bytes:
    """The UTF-8 JSON bytes of ``doc`` (Chinese kept as text, not escapes)."""
    return _ENCODER.encode(doc).encode("utf-8")


_AS_IS = frozenset({str, int, float, bool, type(None)})
"""Exact types whose JSON round trip gives back an equal value (floats print their shortest repr)."""
_STR = frozenset({str})
_CONVERT = {dt.datetime: dt.datetime.isoformat, dt.date: dt.date.isoformat, dt.time: dt.time.isoformat,
            decimal.Decimal: str, bytes: json_default, bytearray: json_default, memoryview: json_default}
"""Exact type -> what :func:`json_default` returns for it (the text the encoder then writes)."""


def flat_values(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any] | None:
    """:func:`flat_document` of ``dict(zip(names, values))``, for names known to be exact ``str``.

    One dict is built (a SQL row's document straight from the driver's tuple); the names are
    not checked, so the caller must pass exact ``str`` names.
    """
    doc = dict(zip(names, values, strict=True))
    for name, value in zip(names, values, strict=True):
        if type(value) not in _AS_IS:
            convert = _CONVERT.get(type(value))
            if convert is None:
                return None
            doc[name] = convert(value)
    return doc


def flat_document(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """``json.loads(to_payload(row))`` built without the round trip, for a flat row; else None.

    A flat row maps ``str`` names to values of exactly ``str``, ``int``, ``float``, ``bool``
    or ``None`` (kept) or of exactly the date, time, decimal and bytes types (converted as
    :func:`json_default` converts them). Anything else -- lists, dicts, subclasses, unknown
    types -- gives None and the caller decodes the payload, so a document returned is always
    the one the payload decodes to. Its values are immutable: a shallow copy is a full copy.
    ``to_payload`` of it gives the same bytes as ``to_payload(row)``.
    """
    if not _STR.issuperset(map(type, row)):  # the encoder would write other names as text
        return None
    return flat_values(tuple(row), tuple(row.values()))


def parts(task: SourceTask, config: DeclarativeSource) -> SourceParts:
    """The :class:`SourceParts` of a declarative source: its task plus the mapper of its config."""
    return SourceParts(task, DeclarativeMapper(config.mapping), tuple(config.identifier_fields))


class SourceConfigError(RuntimeError):
    """The source refused the connector's configuration (wrong credentials, unknown table, ...).

    Retrying does not help; the message says which setting to check and never holds secrets.
    """
