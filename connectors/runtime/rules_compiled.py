"""Compiles one schema's rule list into one straight-line Python function.

:func:`connectors.runtime.rules.compiled` turns each :class:`~connectors.runtime.rules.Rule`
into a closure that walks its path with a general getter (lists, nulls, any mapping) and
then checks; applying a list means one closure call, one getter call and one check call per
rule. :func:`compile_rules` writes the list out instead: per rule, in order, the path read
with chained ``.get`` while every node on it is an exact ``dict`` (the shape of every mapped
record), and the check inline -- a remembered code is one set lookup, a date order compares
dates or integers directly. Wherever the fast read cannot decide (a list on the path, a
mapping that is not a ``dict``, a node of another type) that rule's own closure runs on the
whole value, so the result, the first failing rule and its error are always the closure's.

Safety: rule strings are never put into the generated code; every path segment, field name
and message is bound as a named constant (``_c3``). The unit tests compare the generated
function with the closures over generated documents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from connectors.codegen import Code
from schemas.codes import CodeError

_SLOW = object()
"""What a fast path read gives when it cannot decide: the rule's closure decides instead."""


def _emit_read(code: Code, d: int, var: str, path: str) -> None:
    """``var`` = the value at ``path`` when every node on it is an exact dict; None if absent; else _SLOW.

    Matches the general getter's single result: a None on the way means nothing there; a
    list at the end (several results) or any other node on the way is left to the closure.
    """
    code.emit(d, f"{var} = value")
    for name in path.split(".") if path else ():
        code.emit(d, f"{var} = {var}.get({code.const(name)}) if type({var}) is dict else "
                     f"(None if {var} is None else _SLOW)")
    code.emit(d, f"if type({var}) is list:")
    code.emit(d + 1, f"{var} = _SLOW")


def compile_rules(rules: Sequence[Any], closures: Sequence[Callable[[dict], None]],
                  inline: Callable[[Any], tuple[str, Any] | None]) -> Callable[[dict], None]:
    """``check(value)`` applying ``rules`` in order, equivalent to calling ``closures`` in order.

    ``inline(rule)`` tells how a rule's check may be written out: ``("each", validate)``,
    ``("remember", (known, validate_and_remember))``, ``("entity", validate_uscc)``,
    ``("party", check_parent)``, ``("order", strict)`` -- or None to call its closure.
    """
    code = Code({"_SLOW": _SLOW, "_out_of_order": out_of_order, "_CodeError": CodeError}, "<compiled rules>")
    code.emit(0, "def check(value):")
    code.emit(1, "pass")
    for rule, closure in zip(rules, closures, strict=True):
        how = inline(rule)
        whole = code.const(closure)
        if how is None:
            code.emit(1, f"{whole}(value)")
            continue
        kind, arg = how
        if kind == "party":  # the id_code's parent, checked as one object
            parent_path = rule.field.rpartition(".")[0]
            _emit_read(code, 1, "p", parent_path)
            code.emit(1, "if p is _SLOW:")
            code.emit(2, f"{whole}(value)")
            code.emit(1, "elif type(p) is dict:")
            code.emit(2, f"{code.const(arg)}(p)")
            continue
        if kind == "order":
            later, earlier = rule.field, rule.other or ""
            message = code.const(f"must be {'later than' if arg else 'on or after'} {rule.other}")
            _emit_read(code, 1, "a", later)
            code.emit(1, "if a is _SLOW:")
            code.emit(2, f"{whole}(value)")
            code.emit(1, "elif a is not None:")
            _emit_read(code, 2, "b", earlier)
            code.emit(2, "if b is _SLOW:")
            code.emit(3, f"{whole}(value)")
            code.emit(2, f"elif b is not None and _out_of_order(a, b, {arg!r}):")
            code.emit(3, f"raise _CodeError('date_order', {message}, field={code.const(rule.field)})")
            continue
        _emit_read(code, 1, "v", rule.field)
        code.emit(1, "if v is _SLOW:")
        code.emit(2, f"{whole}(value)")
        code.emit(1, "elif v is not None:")
        field = code.const(rule.field)
        if kind == "each":
            code.emit(2, f"{code.const(arg)}(v, field={field})")
        elif kind == "remember":
            known, validate = arg
            code.emit(2, f"if type(v) is not str or v not in {code.const(known)}:")
            code.emit(3, f"{code.const(validate)}(v, {field})")
        elif kind == "entity":
            code.emit(2, "if isinstance(v, str) and len(v) == 18:")
            code.emit(3, f"{code.const(arg)}(v, field={field})")
        else:
            raise ValueError(f"unknown inline kind {kind!r}")
    return code.build("check")


def comparable(v: Any) -> Any:
    """What an order rule compares: dates as epoch days, timestamps as epoch millis (as fastavro takes ints)."""
    if isinstance(v, dt.datetime):
        return int(v.timestamp() * 1000)
    if isinstance(v, dt.date):
        return (v - dt.date(1970, 1, 1)).days
    return v


def out_of_order(later: Any, earlier: Any, strict: bool) -> bool:
    """Whether ``later`` comes before ``earlier`` (or equals it, if ``strict``): the order rules' test.

    Both as :func:`comparable` gives them (dates as epoch days, datetimes as epoch millis);
    values of different kinds are never out of order. Two exact dates or ints compare as
    they are (the conversion keeps their order).
    """
    ta = type(later)
    if ta is type(earlier) and (ta is dt.date or ta is int):
        return later < earlier or (strict and later == earlier)
    a, b = comparable(later), comparable(earlier)
    if type(a) is not type(b):
        return False
    return a < b or (strict and a == b)
