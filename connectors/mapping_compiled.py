"""Compiles a :class:`~connectors.mapping.MappingSpec` into one straight-line Python function.

:class:`connectors.mapping.DeclarativeMapper` interprets every rule's options per record
(:meth:`~connectors.mapping.DeclarativeMapper.interpret`, the reference implementation).
:func:`compile_mapper` does that reading once: it generates the source of one function that
holds, per target field and in the spec's order, only the steps the rule configures -- the
source path pre-parsed (``doc.get(k)`` for a plain key, chained ``.get`` for dotted names), the
blank/default/required handling, ``split``/``join``, a composed element function when there
are element steps (regex, value map, code table, dates, decimals, multiply), the coercion
for the target's Avro type, and the assignment with the target path pre-parsed. Array-of-
record (``each``) rules and templates are closures built from the same pieces.

Safety: configuration strings are never put into the generated code. Every key, path,
message, table and default is bound as a named constant in the code's namespace
(``_c12``); the code text holds only generated names and fixed syntax.

Semantics, error reasons and messages are exactly those of the interpreter; the unit tests
compare both on every example and system config over generated documents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from connectors.avro_types import tokens as _tokens
from connectors.codegen import Code
from connectors.runtime.contract import Mapped, MappingError

if TYPE_CHECKING:
    from connectors.mapping import DeclarativeMapper, FieldRule

_INT = re.compile(r"-?\d+").fullmatch  # what the interpreter's re.fullmatch(r"-?\d+", v) tests
_NUMBERS = (int, float, Decimal)
_BOOLS = ("true", "false", "1", "0")
_TRUE = ("true", "1")


def compile_mapper(mapper: DeclarativeMapper) -> Callable[[Any, Any], list[Mapped]]:
    """``fn(doc, raw) -> [Mapped]``, equivalent to ``mapper.interpret``; pure and thread-safe."""
    from connectors.mapping import _MISSING, _blank, _set_path, get_path

    shared = {"_M": _MISSING, "_ME": MappingError, "_blank": _blank, "_set_path": _set_path,
              "_get_path": get_path, "_NUMBERS": _NUMBERS, "_INT": _INT, "_BOOLS": _BOOLS, "_TRUE": _TRUE,
              "_Mapped": Mapped, "_topic": mapper.spec.topic, "_fill": mapper._fill, "_BAD_DATE": _BAD_DATE,
              "_strip": str.strip}
    code = Code(shared, "<compiled mapping>")
    code.emit(0, "def _map(doc, raw):")
    code.emit(1, "if not isinstance(doc, dict):")
    code.emit(2, "raise _ME('not_an_object', 'the source document is not an object')")
    code.emit(1, "value = {'envelope': {}}" if mapper._has_envelope else "value = {}")
    for target, rule in mapper.spec.fields.items():
        if rule.each is not None:
            code.emit(1, f"v = {code.const(_each_function(mapper, target, rule, shared))}(doc)")
            code.emit(1, "if v is not _M:")
            _emit_assign(code, 2, target)
        else:
            _emit_value(code, 1, mapper, target, rule,
                        tail=lambda d, target=target: _emit_assign(code, d, target), missing="pass")
    code.emit(1, "return [_Mapped(_topic, _fill(value))]")
    return code.build("_map")


def _value_function(mapper: DeclarativeMapper, target: str, rule: FieldRule, shared: dict) -> Callable:
    """``fn(doc) -> value | _MISSING`` for one rule (the sub-rules of ``each``)."""
    code = Code(shared, "<compiled mapping>")
    code.emit(0, "def _value(doc):")
    _emit_value(code, 1, mapper, target, rule, tail=lambda d: code.emit(d, "return v"), missing="return _M")
    return code.build("_value")


def _emit_value(code: Code, d: int, mapper: DeclarativeMapper, target: str, rule: FieldRule, *,
                tail: Callable[[int], None], missing: str) -> None:
    """Lines computing the rule's value into ``v`` and then running ``tail`` (or ``missing`` if unset).

    The value's type decides the branch: a non-blank string (the common case) gets only the
    steps and coercion that apply to a string; other values take the general path.
    """
    from connectors.mapping import _blank

    if rule.const is not None:
        code.emit(d, f"v = {code.const(rule.const)}")
    elif rule.template is not None:
        code.emit(d, f"v = {code.const(_template_function(rule.template))}(doc)")
    elif rule.source is not None:
        _emit_get(code, d, rule.source)
        for path in rule.fallback or ():
            code.emit(d, "if _blank(v):")
            _emit_get(code, d + 1, path)
    else:
        code.emit(d, "v = None")
    element = _element_function(mapper, target, rule)
    el = code.const(element) if element else None
    kind = mapper._kinds.get(target, "union")

    def blank(d: int) -> None:
        if not _blank(rule.default):
            code.emit(d, f"v = {code.const(rule.default)}")
            general(d, maybe_str=isinstance(rule.default, str))
        elif rule.required:
            message = f"{target}: required source {rule.source or rule.template} is missing"
            code.emit(d, f"raise _ME('missing_field', {code.const(message)})")
        else:
            code.emit(d, missing)

    def string(d: int) -> None:  # v is a stripped, non-empty str
        if rule.split is not None:
            # [s.strip() for s in v.split(sep) if s.strip()], without a Python-level loop
            code.emit(d, f"v = list(filter(None, map(_strip, v.split({code.const(rule.split)}))))")
            if el and rule.each is None:
                code.emit(d, f"v = [{el}(x) for x in v]")
            elif el:
                code.emit(d, f"v = {el}(v)")
            if rule.join is not None and rule.each is None:
                code.emit(d, f"v = {code.const(rule.join)}.join([str(x) for x in v])")
                _emit_coerce(code, d, kind, "str")
            elif el and rule.each is not None:
                _emit_coerce(code, d, kind, "any")
            else:
                _emit_coerce(code, d, kind, "list")
        elif el:
            if not _emit_string_step(code, d, mapper, target, rule):
                code.emit(d, f"v = {el}(v)")
            _emit_coerce(code, d, kind, "any")
        else:
            _emit_coerce(code, d, kind, "str")
        tail(d)

    def general(d: int, maybe_str: bool) -> None:  # v is not blank
        if maybe_str and rule.split is not None:
            code.emit(d, "if isinstance(v, str):")
            code.emit(d + 1, f"v = list(filter(None, map(_strip, v.split({code.const(rule.split)}))))")
        if rule.each is None:
            code.emit(d, "if isinstance(v, list):")
            code.emit(d + 1, f"v = [{el}(x) for x in v]" if el else "v = list(v)")
            if rule.join is not None:
                code.emit(d + 1, f"v = {code.const(rule.join)}.join([str(x) for x in v])")
            if el:
                code.emit(d, "else:")
                code.emit(d + 1, f"v = {el}(v)")
        elif el:
            code.emit(d, f"v = {el}(v)")
        _emit_coerce(code, d, kind, "any")
        tail(d)

    code.emit(d, "if isinstance(v, str):")
    code.emit(d + 1, "v = v.strip()")
    code.emit(d + 1, "if v:")
    string(d + 2)
    code.emit(d + 1, "else:")
    blank(d + 2)
    code.emit(d, "elif v is None or (isinstance(v, list) and not v):")
    blank(d + 1)
    code.emit(d, "else:")
    general(d + 1, maybe_str=False)


def _emit_coerce(code: Code, d: int, kind: str, known: str) -> None:
    """The interpreter's ``_coerce`` for a target of Avro ``kind``; ``known``: str, list or any."""
    if kind == "array":
        if known == "str":
            code.emit(d, "v = [v]")
        elif known == "any":
            code.emit(d, "if not isinstance(v, list):")
            code.emit(d + 1, "v = [v]")
    elif known == "list":
        pass  # a list is only ever wrapped, never converted
    elif kind in ("string", "enum"):
        if known == "any":
            code.emit(d, "if isinstance(v, _NUMBERS) and not isinstance(v, bool):")
            code.emit(d + 1, "v = str(v)")
    elif kind in ("int", "long"):
        code.emit(d, "if _INT(v) is not None:" if known == "str" else "if isinstance(v, str) and _INT(v) is not None:")
        code.emit(d + 1, "v = int(v)")
    elif kind == "boolean":
        check = "v.lower() in _BOOLS" if known == "str" else "isinstance(v, str) and v.lower() in _BOOLS"
        code.emit(d, f"if {check}:")
        code.emit(d + 1, "v = v.lower() in _TRUE")


def _emit_get(code: Code, d: int, path: str) -> None:
    """``v = <value at path in doc>`` (``doc`` is a dict): chained ``.get`` for names-only paths."""
    parts = _tokens(path)
    if parts and all(name for name, _index in parts):
        code.emit(d, f"v = doc.get({code.const(parts[0][0])})")
        for name, _index in parts[1:]:
            code.emit(d, f"v = v.get({code.const(name)}) if isinstance(v, dict) else None")
    else:
        code.emit(d, f"v = _get_path(doc, {code.const(path)})")


def _emit_assign(code: Code, d: int, target: str) -> None:
    """``value[<target>] = v``, creating records on the way (as ``_set_path`` does)."""
    parts = _tokens(target)
    if not parts or not all(name for name, _index in parts):
        code.emit(d, f"_set_path(value, {code.const(target)}, v)")
        return
    node = "value"
    for name, _index in parts[:-1]:
        key = code.const(name)
        code.emit(d, f"n = {node}.get({key})")
        code.emit(d, "if n is None:")
        code.emit(d + 1, f"n = {node}[{key}] = {{}}")
        node = "n"
    code.emit(d, f"{node}[{code.const(parts[-1][0])}] = v")


def _template_function(template: str) -> Callable[[dict], str | None]:
    from connectors.mapping import _PLACEHOLDER, _blank, get_path

    pieces = _PLACEHOLDER.split(template)  # literal, path, literal, path, ..., literal
    literals, paths = pieces[0::2], pieces[1::2]
    distinct = list(dict.fromkeys(paths))

    def template_value(doc: dict) -> str | None:
        parts = {p: get_path(doc, p) for p in distinct}
        if any(_blank(x) for x in parts.values()):
            return None
        out = [literals[0]]
        for path, literal in zip(paths, literals[1:], strict=True):
            out += [str(parts[path]), literal]
        return "".join(out)
    return template_value


def _emit_string_step(code: Code, d: int, mapper: DeclarativeMapper, target: str, rule: FieldRule) -> bool:
    """Inline the rule's element step for a ``str`` ``v`` when it is the only one and a common kind.

    Covers a value map / operation table or a code table (the same code as the closures
    below, without a call), or a date parsed with ``iso``, a strptime pattern or ``yyyyMMdd``
    (one call of a memoised converter, :func:`_string_date`). Returns False (nothing emitted)
    for anything else; the caller then calls the closure.
    """
    kind = mapper._elem_kinds[target]
    table = rule.map if rule.map is not None else rule.operation
    fmt = rule.date_format or ("iso" if kind in ("date", "timestamp-millis") else None)
    lookups = (table is not None) + (rule.code_table is not None)
    if rule.regex is not None or rule.decimal or kind == "decimal" or rule.multiply is not None:
        return False
    if lookups and fmt is None:
        if table is not None:
            t, message = code.const(table), code.const(f"{target}: source code not in the rule's value map")
            code.emit(d, f"if v in {t}:")
            code.emit(d + 1, f"v = {t}[v]")
            code.emit(d, "else:")
            code.emit(d + 1, "u = v.upper()")
            code.emit(d + 1, f"if u not in {t}:")
            code.emit(d + 2, f"raise _ME('unknown_code', {message})")
            code.emit(d + 1, f"v = {t}[u]")
        else:
            entries = mapper.spec.code_tables[rule.code_table]
            pairs = code.const({k: (e.code, e.name) for k, e in entries.items()})
            message = code.const(f"{target}: source code not in code table {rule.code_table}")
            code.emit(d, f"p = {pairs}.get(v)")
            code.emit(d, "if p is None:")
            code.emit(d + 1, f"raise _ME('unknown_code', {message})")
            code.emit(d, "v = {'code': p[0], 'name': p[1]}" if kind == "record" else "v = p[0]")
        return True
    if lookups or fmt is None or fmt in ("epoch_ms", "epoch_s"):
        return False
    message = code.const(f"{target}: source is not a date in format {fmt}")
    code.emit(d, f"v = {code.const(_string_date(fmt, kind, mapper._tz))}(v)")
    code.emit(d, "if v is _BAD_DATE:")
    code.emit(d + 1, f"raise _ME('bad_date', {message})")
    return True


_BAD_DATE = object()
"""What :func:`_string_date` converters return for text that is not a date in their format."""


@lru_cache(maxsize=256)
def _string_date(fmt: str, kind: str, tz: dt.tzinfo) -> Callable[[str], Any]:
    """The date step of a string source (``iso``, ``yyyyMMdd`` or a strptime pattern), memoised.

    The same few dates recur across records and one record often maps one source time to two
    targets (``stage_time`` and ``envelope.event_time``); the result is a pure function of the
    text and immutable (a date, epoch milliseconds or ISO text), so converters are shared by
    every mapper with the same format, kind and time zone. Text that does not parse gives
    :data:`_BAD_DATE`; errors after parsing propagate, as in the interpreter.
    """
    if fmt == "iso":
        parse = dt.datetime.fromisoformat
    else:
        parse = partial(_strptime, pattern="%Y%m%d" if fmt == "yyyyMMdd" else fmt)

    @lru_cache(maxsize=4096)
    def convert(v: str) -> Any:
        try:
            w = parse(v)
        except (ValueError, TypeError, OverflowError):
            return _BAD_DATE
        return _as_kind(w, kind, tz)
    return convert


def _as_kind(when: dt.datetime, kind: str, tz: dt.tzinfo) -> Any:
    """A parsed time as the target's kind (naive times are in ``tz``): date, epoch ms or ISO text."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    if kind == "date":
        return when.astimezone(tz).date()
    if kind == "timestamp-millis":
        return int(when.timestamp() * 1000)
    return when.isoformat()


def _strptime(v: str, pattern: str) -> dt.datetime:
    return dt.datetime.strptime(v, pattern)


def _element_function(mapper: DeclarativeMapper, target: str, rule: FieldRule) -> Callable | None:
    """The rule's per-element steps composed (``_element`` minus the steps not configured), or None."""
    steps: list[Callable[[Any], Any]] = []
    if rule.regex is not None:
        steps.append(_regex_step(target, mapper._regex[rule.regex]))
    table = rule.map if rule.map is not None else rule.operation
    kind = mapper._elem_kinds[target]
    if table is not None:
        steps.append(_table_step(target, table))
    elif rule.code_table is not None:
        steps.append(_code_table_step(target, rule.code_table, mapper.spec.code_tables[rule.code_table], kind))
    if rule.date_format:
        steps.append(_date_step(mapper, target, rule.date_format, kind))
    elif kind in ("date", "timestamp-millis"):
        parse = _date_step(mapper, target, "iso", kind)
        steps.append(lambda v: parse(v) if isinstance(v, str) else v)
    if rule.decimal or kind == "decimal":
        steps.append(partial(mapper._decimal, target))
    if rule.multiply is not None:
        steps.append(partial(mapper._multiply, target, factor=rule.multiply))
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def element(v: Any) -> Any:
        for step in steps:
            v = step(v)
        return v
    return element


def _regex_step(target: str, pattern: re.Pattern) -> Callable:
    search, grouped = pattern.search, pattern.groups > 0
    message = f"{target}: source does not match the rule's pattern"

    def regex(v: Any) -> Any:
        m = search(str(v))
        if m is None:
            raise MappingError("bad_format", message)
        return m.group(1) if grouped else m.group(0)
    return regex


def _table_step(target: str, table: dict) -> Callable:
    message = f"{target}: source code not in the rule's value map"

    def translate(v: Any) -> Any:
        key = str(v)
        if key in table:
            return table[key]
        upper = key.upper()
        if upper not in table:
            raise MappingError("unknown_code", message)
        return table[upper]
    return translate


def _code_table_step(target: str, name: str, entries: dict, kind: str) -> Callable:
    message = f"{target}: source code not in code table {name}"
    pairs = {k: (e.code, e.name) for k, e in entries.items()}

    def code_table(v: Any) -> Any:
        pair = pairs.get(str(v))
        if pair is None:
            raise MappingError("unknown_code", message)
        return {"code": pair[0], "name": pair[1]} if kind == "record" else pair[0]
    return code_table


def _date_step(mapper: DeclarativeMapper, target: str, fmt: str, kind: str) -> Callable:
    tz, message = mapper._tz, f"{target}: source is not a date in format {fmt}"
    if fmt in ("epoch_ms", "epoch_s"):
        divisor = 1000 if fmt == "epoch_ms" else 1

        def parse(v: Any) -> dt.datetime:
            return dt.datetime.fromtimestamp(float(v) / divisor, dt.UTC)
    elif fmt == "iso":
        def parse(v: Any) -> dt.datetime:
            return dt.datetime.fromisoformat(str(v))
    else:
        pattern = "%Y%m%d" if fmt == "yyyyMMdd" else fmt

        def parse(v: Any) -> dt.datetime:
            return dt.datetime.strptime(str(v), pattern)

    def date(v: Any) -> Any:
        try:
            when = parse(v)
        except (ValueError, TypeError, OverflowError):
            raise MappingError("bad_date", message) from None
        return _as_kind(when, kind, tz)
    return date


def _each_function(mapper: DeclarativeMapper, target: str, rule: FieldRule, shared: dict) -> Callable:
    """``fn(doc) -> [row, ...] | _MISSING`` for an ``each`` rule (the interpreter's ``_each``)."""
    from connectors.mapping import _MISSING, _blank, get_path

    missing = f"{target}: required source {rule.source or '(each)'} is missing"

    def absent() -> Any:
        if rule.required:
            raise MappingError("missing_field", missing)
        return _MISSING

    if rule.source:
        source, not_list = rule.source, f"{target}: source {rule.source} is not a list"
        subs = [(k, _value_function(mapper, f"{target}[].{k}", r, shared)) for k, r in (rule.each or {}).items()]

        def each_of_objects(doc: dict) -> Any:
            items = get_path(doc, source)
            if _blank(items):
                return absent()
            if not isinstance(items, list):
                raise MappingError("bad_format", not_list)
            rows = []
            for it in items:
                it = it if isinstance(it, dict) else {}
                row = {}
                for k, fn in subs:
                    v = fn(it)
                    if v is not _MISSING:
                        row[k] = v
                rows.append(row)
            return rows
        return each_of_objects

    return _columns_function(mapper, target, rule, shared, absent)


def _columns_function(mapper: DeclarativeMapper, target: str, rule: FieldRule, shared: dict,
                      absent: Callable[[], Any]) -> Callable:
    """``each`` over parallel source columns, generated: every column's value inline, rows as dict displays.

    Every column is computed before the lengths are compared (a column's own error comes
    first, as in the interpreter). Elements of a column are never ``_MISSING`` (only a whole
    column is), so every row has every key.
    """
    subs = list((rule.each or {}).items())
    code = Code(shared, "<compiled mapping>")
    code.emit(0, "def _each(doc):")
    code.emit(1, "pass")
    for i, (k, sub) in enumerate(subs):
        _emit_value(code, 1, mapper, f"{target}[].{k}", sub, tail=lambda d, i=i: code.emit(d, f"c{i} = v"),
                    missing=f"c{i} = _M")
        code.emit(1, f"if not isinstance(c{i}, list):")
        code.emit(2, f"c{i} = [] if c{i} is _M else [c{i}]")
    if not subs:
        code.emit(1, f"return {code.const(absent)}()")
        return code.build("_each")
    differ = code.const(f"{target}: parallel source lists differ in length")
    for i in range(1, len(subs)):
        code.emit(1, f"if len(c{i}) != len(c0):")
        code.emit(2, f"raise _ME('list_length', {differ})")
    code.emit(1, "if not c0:")
    code.emit(2, f"return {code.const(absent)}()")
    row = ", ".join(f"{code.const(k)}: a{i}" for i, (k, _sub) in enumerate(subs))
    names = ", ".join(f"a{i}" for i in range(len(subs)))
    columns = ", ".join(f"c{i}" for i in range(len(subs)))
    code.emit(1, f"return [{{{row}}} for {names}, in zip({columns})]")
    return code.build("_each")
