"""Avro type facts the declarative mapper needs, computed once per mapping spec.

Paths are ``a.b[0].c``; ``target_type`` resolves the Avro type at a path in a schema
(unions reduced to their non-null branch, named types replaced by their definitions);
``compile_filler`` walks a schema once and returns a function that gives absent fields
their defaults. Pure functions; the results are safe to share between threads.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

PATH = re.compile(r"([^.\[\]]+)|\[(\d*)\]")


@lru_cache(maxsize=4096)
def tokens(path: str) -> tuple[tuple[str, str], ...]:
    """``a.b[0].c`` -> ((name, index), ...), parsed once per distinct path (paths come from config)."""
    return tuple(PATH.findall(path))


def named_types(schema: Any, out: dict | None = None) -> dict[str, dict]:
    out = {} if out is None else out
    if isinstance(schema, list):
        for b in schema:
            named_types(b, out)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            out[schema["name"]] = schema
        for f in schema.get("fields", ()):
            named_types(f["type"], out)
        named_types(schema.get("items"), out)
    return out


def resolve(node: Any, names: dict) -> Any:
    """The non-null branch of a union, with named references replaced by their definitions."""
    if isinstance(node, list):
        branches = [b for b in node if b != "null"]
        node = branches[0] if len(branches) == 1 else node
    return names.get(node, node) if isinstance(node, str) else node


def target_type(schema: dict, target: str, names: dict) -> Any:
    """The (resolved) Avro type at ``target`` (``a.b``, ``a[0]``, ``a[].b``), or None if absent."""
    node: Any = schema
    for name, _index in tokens(target):
        node = resolve(node, names)
        if name:
            if not isinstance(node, dict) or node.get("type") != "record":
                return None
            field = next((f for f in node["fields"] if f["name"] == name), None)
            if field is None:
                return None
            node = field["type"]
        else:
            if not isinstance(node, dict) or node.get("type") != "array":
                return None
            node = node["items"]
    return resolve(node, names)


def kind(node: Any) -> str:
    if isinstance(node, dict):
        return node.get("logicalType") or node.get("type", "?")
    return node if isinstance(node, str) else "union"



def compile_filler(schema: Any, names: dict, _memo: dict | None = None):
    """A function giving every absent field of a value its Avro default (mutating, returning it).

    The schema is walked once, here; the returned function only visits the fields that have
    defaults and the nested records actually present (the mapper's hot path).
    """
    memo = {} if _memo is None else _memo
    node = resolve(schema, names)
    if isinstance(node, list):
        node = next((resolve(b, names) for b in node if isinstance(resolve(b, names), dict)
                     and resolve(b, names).get("type") == "record"), None)
    if not isinstance(node, dict):
        return _identity
    if node.get("type") == "array":
        inner = compile_filler(node["items"], names, memo)
        if inner is _identity:
            return _identity

        def fill_items(value):
            if isinstance(value, list):
                for item in value:
                    inner(item)
            return value
        return fill_items
    if node.get("type") != "record":
        return _identity
    name = node.get("name")
    if name in memo:
        return lambda value: memo[name](value)  # recursive types: resolved at call time
    memo[name] = _identity
    plan = [(f["name"], "default" in f, f.get("default"), compile_filler(f["type"], names, memo))
            for f in node["fields"]]

    def fill_record(value):
        if isinstance(value, dict):
            for field, has_default, default, child in plan:
                if field in value:
                    if child is not _identity:
                        child(value[field])
                elif has_default:
                    value[field] = list(default) if isinstance(default, list) else default
        return value
    memo[name] = fill_record
    return fill_record


def _identity(value):
    return value
