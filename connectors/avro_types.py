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

    The schema is walked once, here, and each record type becomes one generated function
    (:func:`_record_filler`); the result only visits the fields that have defaults and the
    nested records actually present (the mapper's hot path).
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
    fill_record = _record_filler(plan)
    memo[name] = fill_record
    return fill_record


def _record_filler(plan: list[tuple[str, bool, Any, Any]]):
    """Straight-line ``fill_record(value)`` for one record type (one ``if`` per field that needs one).

    Field names and defaults are bound as namespace constants, never put into the code text.
    """
    ns: dict[str, Any] = {}
    lines = ["def fill_record(value):", "    if isinstance(value, dict):"]
    for i, (field, has_default, default, child) in enumerate(plan):
        ns[f"_f{i}"], ns[f"_d{i}"], ns[f"_c{i}"] = field, default, child
        copy = f"list(_d{i})" if isinstance(default, list) else f"_d{i}"
        if child is not _identity:  # children ignore None, so only present values are visited
            lines += [f"        x = value.get(_f{i})", "        if x is not None:", f"            _c{i}(x)"]
            if has_default:
                lines += [f"        elif _f{i} not in value:", f"            value[_f{i}] = {copy}"]
        elif has_default:
            lines += [f"        if _f{i} not in value:", f"            value[_f{i}] = {copy}"]
    lines += ["        pass", "    return value"]
    exec(compile("\n".join(lines) + "\n", "<compiled filler>", "exec"), ns)  # noqa: S102 - constants only
    return ns["fill_record"]


def _identity(value):
    return value
