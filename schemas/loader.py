"""Load the Avro data standard from ``schemas/avro/``.

Pure functions over the files in :data:`SCHEMA_DIR`; results are cached for the life of
the process (the files are package data and do not change at run time). Returned dicts
are shared: treat them as read-only. Safe to call from any thread.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fastavro.schema import load_schema

SCHEMA_DIR: Path = Path(__file__).resolve().parent / "avro"
"""Directory holding one ``<full name>.avsc`` file per record type."""

_FIRST_KEYS = ("name", "type", "namespace", "doc", "logicalType", "precision", "scale",
               "symbols", "items", "values", "default", "level", "pii", "fields")


@cache
def _names(directory: Path = SCHEMA_DIR) -> tuple[str, ...]:
    names = []
    for path in sorted(Path(directory).glob("*.avsc")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and raw.get("type") == "record":
            names.append(path.stem)
    return tuple(names)


def list_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Full names of all record schemas in ``directory`` (default :data:`SCHEMA_DIR`), sorted."""
    return list(_names(Path(directory)))


def _check(full_name: str, directory: Path = SCHEMA_DIR) -> None:
    valid = _names(Path(directory))
    if full_name not in valid:
        raise KeyError(f"unknown schema {full_name!r}; valid schemas: {', '.join(valid)}")


@cache
def load(full_name: str, directory: Path = SCHEMA_DIR) -> dict:
    """The fastavro-parsed schema of ``full_name`` with referenced named types resolved.

    Ready for ``fastavro.schemaless_writer`` / ``schemaless_reader``. Raises ``KeyError``
    (listing the valid names) for an unknown name. ``directory`` lets a tool read another
    copy of the standard (``hub schemas check --dir``).
    """
    _check(full_name, directory)
    return load_schema(str(Path(directory) / f"{full_name}.avsc"))


def _clean(node):
    """Drop fastavro's private keys and order keys name/type/doc first, recursively."""
    if isinstance(node, list):
        return [_clean(x) for x in node]
    if not isinstance(node, dict):
        return node
    items = {k: _clean(v) for k, v in node.items() if not k.startswith("__")}
    ordered = {k: items[k] for k in _FIRST_KEYS if k in items}
    ordered.update((k, v) for k, v in items.items() if k not in ordered)
    return ordered


@cache
def schema_json(full_name: str, directory: Path = SCHEMA_DIR) -> str:
    """Self-contained JSON of ``full_name``: every referenced named type defined inline once.

    This is the text registered in a schema registry; it parses with the Apache ``avro``
    package and keeps the custom ``level`` and ``pii`` attributes. Deterministic for a
    given set of files, so re-registering it yields the same schema id.
    """
    return json.dumps(_clean(load(full_name, Path(directory))), ensure_ascii=False, separators=(",", ":"))


def _walk(node, prefix: str, level: str | None, pii: str | None,
          names: dict[str, dict], stack: tuple[str, ...], out: dict[str, dict]) -> None:
    if isinstance(node, str):
        if node in names and node not in stack:
            _walk(names[node], prefix, level, pii, names, stack, out)
        return
    if isinstance(node, list):
        for branch in node:
            _walk(branch, prefix, level, pii, names, stack, out)
        return
    kind = node.get("type")
    if kind in ("record", "error"):
        names[node["name"]] = node
        for field in node["fields"]:
            path = f"{prefix}.{field['name']}" if prefix else field["name"]
            own = field.get("level")
            eff_level = max(x for x in (level, own) if x) if (level or own) else None
            eff_pii = field.get("pii") or pii
            out[path] = {"level": eff_level, "pii": eff_pii}
            _walk(field["type"], path, eff_level, eff_pii, names, stack + (node["name"],), out)
    elif kind in ("enum", "fixed"):
        names[node["name"]] = node
    elif kind == "array":
        _walk(node["items"], prefix, level, pii, names, stack, out)
    elif kind == "map":
        _walk(node["values"], prefix, level, pii, names, stack, out)


@cache
def _attributes(full_name: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    _walk(json.loads(schema_json(full_name)), "", None, None, {}, (), out)
    return out


def field_attributes(full_name: str) -> dict[str, dict]:
    """Dotted field path -> ``{"level": "L1".."L4", "pii": kind or None}`` for every field.

    Walks nested records, arrays and maps of records, and unions; arrays and maps add no
    path segment (``inspectors.certificate_number``). A nested field's level is the stricter
    of its own and its enclosing field's; its pii kind is its own, else the enclosing
    field's. Raises ``KeyError`` for an unknown schema.
    """
    return dict(_attributes(full_name))


def pii_fields(full_name: str) -> dict[str, str]:
    """Dotted field path -> pii kind (``name``, ``id_number``, ``phone``, ``address``)."""
    return {path: a["pii"] for path, a in _attributes(full_name).items() if a["pii"]}
