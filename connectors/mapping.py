"""Declarative mapping rules: a system's own document -> one standard record, as configuration.

A :class:`MappingSpec` names the catalog topic and, per *target* path in the standard record
(``case_id``, ``counterpart.id_code``, ``envelope.region_code``, ``penalty_kinds[0]``), one
:class:`FieldRule` saying where the value comes from and how it is transformed. The spec is
validated against the topic's Avro schema when it is parsed (unknown targets, unknown code
tables and unmapped required fields are config errors), so a connector can be checked
without starting it.

A rule computes its value in this order: ``const`` | ``template`` | ``source`` (then its
``fallback`` paths while blank) -> blank
(``None`` or ``""``) becomes ``default`` -> ``required`` check -> ``split`` -> ``regex`` ->
``join`` -> ``map`` / ``code_table`` / ``operation`` -> dates -> decimals -> ``multiply`` -> light type
coercion to the target type (numbers to strings, digit strings to ints, a scalar into a
one-element array). Steps after ``split`` apply to each element of a list. Dates: with
``date_format`` (``"%Y-%m-%d %H:%M:%S"``-style patterns, ``"yyyyMMdd"``, ``"epoch_ms"``,
``"epoch_s"``, ``"iso"``), or ``"iso"`` implicitly for a string aimed at a date/timestamp
field; the result is a ``datetime.date`` for an Avro ``date`` and epoch milliseconds for a
``timestamp-millis`` (naive times are in :attr:`MappingSpec.timezone`). ``each`` builds an
array of records, from a source list of objects or from parallel lists zipped together.

:class:`DeclarativeMapper` applies a spec, compiled once into straight-line code
(:mod:`connectors.mapping_compiled`; :meth:`DeclarativeMapper.interpret` is the reference
interpreter it is tested against); it is pure and thread-safe. A blank optional value
leaves the target unset, and unset fields get their Avro defaults (null / []) so the output
validates. :class:`~connectors.runtime.contract.MappingError` messages name target fields,
source paths and tables, never values.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.avro_types import PATH as _PATH
from connectors.avro_types import compile_filler
from connectors.avro_types import kind as _kind
from connectors.avro_types import named_types as _named
from connectors.avro_types import resolve as _resolve
from connectors.avro_types import target_type as _target_type
from connectors.avro_types import tokens as _tokens
from connectors.runtime.contract import Doc, Mapped, MappingError, RawRecord
from schemas import loader
from topics.catalog import CATALOG

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
RUNNER_STAMPED = frozenset({"record_id", "source_system", "source_position", "ingest_time", "source_key",
                            "source_version"})
"""Envelope fields the runner fills (:func:`connectors.runtime.pipeline.stamp_envelope`), never mapped."""


class CodeEntry(BaseModel):
    """One translated code: the standard code and its name."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="Standard code (e.g. GB/T 2261 or the hub's own code list).")
    name: str = Field(description="Standard name of the code.")


class FieldRule(BaseModel):
    """How one target field is computed from the source document; see the module docstring."""

    model_config = ConfigDict(extra="forbid")
    source: str | None = Field(None, description="Dotted path into the source document, `[n]` for list items.")
    fallback: list[str] | None = Field(None, description="Further source paths tried in order while the value is "
                                                         "blank (first non-blank wins), e.g. a credit-code column "
                                                         "then a resident-ID column; needs `source`.")
    const: Any = Field(None, description="A constant value (wins over `source`).")
    template: str | None = Field(None, description="Text with `{source.path}` placeholders, e.g. `{dept}-{ajbh}`; "
                                                   "blank if any placeholder is blank.")
    default: Any = Field(None, description="Value used when the source is absent, null or empty.")
    required: bool = Field(False, description="Reject the record (`missing_field`) when the value is blank.")
    split: str | None = Field(None, description="Separator: split a string into a list (items stripped, blanks dropped).")
    regex: str | None = Field(None, description="Keep the first group (or whole match) of this pattern; "
                                                "no match -> `bad_format`.")
    join: str | None = Field(None, description="Separator: join a list into one string.")
    map: dict[str, Any] | None = Field(None, description="Translate source values to target values; "
                                                         "unknown -> `unknown_code`.")
    code_table: str | None = Field(None, description="Name of a code table in `code_tables`: code -> {code, name} "
                                                     "(just the code for string/enum targets); unknown -> `unknown_code`.")
    operation: dict[str, Literal["i", "u", "d"]] | None = Field(
        None, description="For `envelope.operation`: source flag -> i/u/d, e.g. {\"I\": \"i\", \"U\": \"u\", \"D\": \"d\"}.")
    date_format: str | None = Field(None, description="strptime pattern, `yyyyMMdd`, `epoch_ms`, `epoch_s` or `iso`.")
    decimal: bool = Field(False, description="Parse as money (`Decimal`, scaled to the schema); implied by decimal targets.")
    multiply: float | None = Field(None, description="Multiply a number by this factor, e.g. 0.01 for a "
                                                     "percentage given as 0-100; not a number -> `bad_number`.")
    each: dict[str, FieldRule] | None = Field(
        None, description="Array of records: sub-target -> rule. With `source` (a list of objects) sub-rules read "
                          "each object; without, sub-rules yield parallel lists (e.g. with `split`) zipped by index.")

    @model_validator(mode="after")
    def _one_origin(self) -> FieldRule:
        origins = [n for n in ("const", "template") if getattr(self, n) is not None]
        if self.fallback and self.source is None:
            raise ValueError("`fallback` needs `source`")
        if len(origins) > 1 or (origins and self.source):
            raise ValueError("give only one of `source`, `const` and `template`")
        if self.source is None and not origins and self.default is None and self.each is None:
            raise ValueError("give `source`, `const`, `template`, `default` or `each`")
        if sum(x is not None for x in (self.map, self.code_table, self.operation)) > 1:
            raise ValueError("give only one of `map`, `code_table` and `operation`")
        if self.regex is not None:
            re.compile(self.regex)
        return self


class MappingSpec(BaseModel):
    """Mapping of one source document onto one record of a catalog topic."""

    model_config = ConfigDict(extra="forbid")
    topic: str = Field(description="Catalog topic the records go to, e.g. `penalty.case.events`.")
    fields: dict[str, FieldRule] = Field(description="Target path in the standard record -> rule.")
    code_tables: dict[str, dict[str, CodeEntry]] = Field(
        default_factory=dict, description="Named code tables: source code -> standard {code, name}.")
    timezone: str = Field("Asia/Shanghai", description="Time zone of naive source times (IANA name).")

    @model_validator(mode="after")
    def _check_against_schema(self) -> MappingSpec:
        if self.topic not in CATALOG:
            raise ValueError(f"unknown topic {self.topic!r}; valid topics: {', '.join(sorted(CATALOG))}")
        ZoneInfo(self.timezone)
        schema = loader.load(CATALOG[self.topic].value_schema)
        names = _named(schema)
        for target, rule in self.fields.items():
            for sub_target, sub in [(target, rule), *((f"{target}[].{k}", r) for k, r in (rule.each or {}).items())]:
                if _target_type(schema, sub_target, names) is None:
                    raise ValueError(f"fields.{sub_target}: no such field in {CATALOG[self.topic].value_schema}")
                if sub.code_table and sub.code_table not in self.code_tables:
                    raise ValueError(f"fields.{sub_target}: unknown code table {sub.code_table!r}; "
                                     f"valid: {', '.join(self.code_tables) or '(none)'}")
        mapped = {_PATH.findall(t)[0][0] for t in self.fields} | {
            ".".join(p[0] for p in _PATH.findall(t)[:2]) for t in self.fields}
        for field in schema["fields"]:
            if "default" not in field and field["name"] not in mapped and field["name"] != "envelope":
                raise ValueError(f"fields.{field['name']}: required by the schema but not mapped")
            if field["name"] == "envelope":
                for sub in _resolve(field["type"], names)["fields"]:
                    name = f"envelope.{sub['name']}"
                    if "default" not in sub and sub["name"] not in RUNNER_STAMPED and name not in mapped:
                        raise ValueError(f"fields.{name}: required by the schema but not mapped")
        return self


# -- the mapper (record time) ----------------------------------------------------------------

_MISSING = object()


def get_path(doc: Any, path: str) -> Any:
    """The value at dotted ``path`` (``a.b[0].c``) in ``doc``, or None if any part is absent."""
    node = doc
    for name, index in _tokens(path):
        if name:
            node = node.get(name) if isinstance(node, dict) else None
        elif index:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        if node is None:
            return None
    return node


def _set_path(value: dict, target: str, item: Any) -> None:
    """Assign ``item`` at ``target`` (``a.b``, ``a[2].b``), creating records and list slots on the way."""
    parts = _tokens(target)
    node: Any = value
    for i, (name, index) in enumerate(parts):
        last = i == len(parts) - 1
        fresh = None if last else ([] if not parts[i + 1][0] else {})
        slot: Any = name if name else int(index or 0)
        if not name:
            node.extend([None] * (slot + 1 - len(node)))
        if last:
            node[slot] = item
        else:
            if (node.get(slot) if name else node[slot]) is None:
                node[slot] = fresh
            node = node[slot]


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, list) and not v)


class DeclarativeMapper:
    """Applies a :class:`MappingSpec`: ``mapper(doc, raw) -> [Mapped(topic, value)]``. Pure, thread-safe."""

    def __init__(self, spec: MappingSpec):
        self.spec = spec
        self.schema = loader.load(CATALOG[spec.topic].value_schema)
        self._names = _named(self.schema)
        self._tz = ZoneInfo(spec.timezone)
        self._types: dict[str, Any] = {}
        for target, rule in spec.fields.items():
            self._types[target] = _target_type(self.schema, target, self._names)
            for sub in rule.each or {}:
                self._types[f"{target}[].{sub}"] = _target_type(self.schema, f"{target}[].{sub}", self._names)
        self._regex = {r.regex: re.compile(r.regex) for r in self._all_rules() if r.regex}
        # Per-target type facts, resolved once: the hot path only looks them up.
        self._kinds = {t: _kind(node) for t, node in self._types.items()}
        self._elem_types = {t: self._element_type(t) for t in self._types}
        self._elem_kinds = {t: _kind(node) for t, node in self._elem_types.items()}
        self._scales = {t: node.get("scale") if isinstance(node, dict) else None
                        for t, node in self._elem_types.items()}
        self._has_envelope = any(f["name"] == "envelope" for f in self.schema["fields"])
        self._fill = compile_filler(self.schema, self._names)
        # mapping_compiled imports this module, so it is imported here rather than at the top.
        from connectors.mapping_compiled import compile_mapper

        self._compiled = compile_mapper(self)

    def _all_rules(self):
        for rule in self.spec.fields.values():
            yield rule
            yield from (rule.each or {}).values()

    def __call__(self, doc: Doc, raw: RawRecord) -> list[Mapped]:
        return self._compiled(doc, raw)

    def interpret(self, doc: Doc, raw: RawRecord) -> list[Mapped]:
        """The reference implementation of ``mapper(doc, raw)``: reads every rule per record.

        ``__call__`` runs the same spec compiled (:mod:`connectors.mapping_compiled`); both
        give equal records and equal errors.
        """
        if not isinstance(doc, dict):
            raise MappingError("not_an_object", "the source document is not an object")
        value: dict[str, Any] = {"envelope": {}} if self._has_envelope else {}
        for target, rule in self.spec.fields.items():
            item = self._each(target, rule, doc) if rule.each is not None else self._value(target, rule, doc)
            if item is not _MISSING:
                _set_path(value, target, item)
        return [Mapped(self.spec.topic, self._fill(value))]

    def _each(self, target: str, rule: FieldRule, doc: dict) -> Any:
        subs = rule.each or {}
        if rule.source:
            items = get_path(doc, rule.source)
            if _blank(items):
                return self._absent(target, rule)
            if not isinstance(items, list):
                raise MappingError("bad_format", f"{target}: source {rule.source} is not a list")
            rows = [{k: self._value(f"{target}[].{k}", r, it if isinstance(it, dict) else {}) for k, r in subs.items()}
                    for it in items]
        else:
            columns = {k: self._value(f"{target}[].{k}", r, doc) for k, r in subs.items()}
            lists = {k: (v if isinstance(v, list) else ([] if v is _MISSING else [v])) for k, v in columns.items()}
            lengths = {len(v) for v in lists.values()}
            if len(lengths) > 1:
                raise MappingError("list_length", f"{target}: parallel source lists differ in length")
            n = lengths.pop() if lengths else 0
            if n == 0:
                return self._absent(target, rule)
            rows = [{k: v[i] for k, v in lists.items()} for i in range(n)]
        return [{k: v for k, v in row.items() if v is not _MISSING} for row in rows]

    def _absent(self, target: str, rule: FieldRule) -> Any:
        if rule.required:
            raise MappingError("missing_field", f"{target}: required source {rule.source or '(each)'} is missing")
        return _MISSING

    def _value(self, target: str, rule: FieldRule, doc: dict) -> Any:
        if rule.const is not None:
            v = rule.const
        elif rule.template is not None:
            parts = {p: get_path(doc, p) for p in _PLACEHOLDER.findall(rule.template)}
            v = None if any(_blank(x) for x in parts.values()) else _PLACEHOLDER.sub(
                lambda m: str(parts[m.group(1)]), rule.template)
        elif rule.source is not None:
            v = get_path(doc, rule.source)
            for path in rule.fallback or ():
                if not _blank(v):
                    break
                v = get_path(doc, path)
        else:
            v = None
        if isinstance(v, str):
            v = v.strip()
        if _blank(v):
            v = rule.default
        if _blank(v):
            if rule.required:
                raise MappingError("missing_field", f"{target}: required source {rule.source or rule.template} is missing")
            return _MISSING
        if rule.split is not None and isinstance(v, str):
            v = [s.strip() for s in v.split(rule.split) if s.strip()]
        if isinstance(v, list) and rule.each is None:
            v = [self._element(target, rule, x) for x in v]
            if rule.join is not None:
                v = rule.join.join(str(x) for x in v)
        else:
            v = self._element(target, rule, v)
        return self._coerce(target, v)

    def _element(self, target: str, rule: FieldRule, v: Any) -> Any:
        if rule.regex is not None:
            m = self._regex[rule.regex].search(str(v))
            if m is None:
                raise MappingError("bad_format", f"{target}: source does not match the rule's pattern")
            v = m.group(1) if m.groups() else m.group(0)
        table = rule.map if rule.map is not None else rule.operation
        if table is not None:
            key = str(v)
            if key not in table and key.upper() not in table:
                raise MappingError("unknown_code", f"{target}: source code not in the rule's value map")
            v = table.get(key, table.get(key.upper()))
        elif rule.code_table is not None:
            entry = self.spec.code_tables[rule.code_table].get(str(v))
            if entry is None:
                raise MappingError("unknown_code", f"{target}: source code not in code table {rule.code_table}")
            kind = self._elem_kinds[target]
            v = {"code": entry.code, "name": entry.name} if kind == "record" else entry.code
        kind = self._elem_kinds[target]
        if rule.date_format or (kind in ("date", "timestamp-millis") and isinstance(v, str)):
            v = self._date(target, v, rule.date_format or "iso", kind)
        if rule.decimal or kind == "decimal":
            v = self._decimal(target, v)
        if rule.multiply is not None:
            v = self._multiply(target, v, rule.multiply)
        return v

    def _multiply(self, target: str, v: Any, factor: float) -> Any:
        if isinstance(v, Decimal):
            return v * Decimal(str(factor))
        try:
            product = float(v) * factor
        except (TypeError, ValueError):
            raise MappingError("bad_number", f"{target}: source is not a number") from None
        return round(product, 12)  # 87 * 0.01 -> 0.87, not 0.8700000000000001

    def _element_type(self, target: str) -> Any:
        node = self._types.get(target)
        return _resolve(node["items"], self._names) if _kind(node) == "array" else node

    def _date(self, target: str, v: Any, fmt: str, kind: str) -> Any:
        try:
            if fmt in ("epoch_ms", "epoch_s"):
                when = dt.datetime.fromtimestamp(float(v) / (1000 if fmt == "epoch_ms" else 1), dt.UTC)
            elif fmt == "yyyyMMdd":
                when = dt.datetime.strptime(str(v), "%Y%m%d")
            elif fmt == "iso":
                when = dt.datetime.fromisoformat(str(v))
            else:
                when = dt.datetime.strptime(str(v), fmt)
        except (ValueError, TypeError, OverflowError):
            raise MappingError("bad_date", f"{target}: source is not a date in format {fmt}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=self._tz)
        if kind == "date":
            return when.astimezone(self._tz).date()
        if kind == "timestamp-millis":
            return int(when.timestamp() * 1000)
        return when.isoformat()

    def _decimal(self, target: str, v: Any) -> Decimal:
        try:
            d = Decimal(str(v).replace(",", ""))
        except InvalidOperation:
            raise MappingError("bad_decimal", f"{target}: source is not a decimal number") from None
        scale = self._scales[target]
        return d.quantize(Decimal(1).scaleb(-scale)) if scale is not None and d.is_finite() else d

    def _coerce(self, target: str, v: Any) -> Any:
        kind = self._kinds.get(target, "union")
        if kind == "array" and not isinstance(v, list):
            return [v]
        if kind in ("string", "enum") and isinstance(v, int | float | Decimal) and not isinstance(v, bool):
            return str(v)
        if kind in ("int", "long") and isinstance(v, str) and re.fullmatch(r"-?\d+", v):
            return int(v)
        if kind == "boolean" and isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
            return v.lower() in ("true", "1")
        return v
