"""Unified case-handling system (统一处罚办案系统, the "1" of "1+N"): already speaks the standard.

The 28 departments without a self-built system handle their cases here, so it serves standard
:avro:`gov.zj.supervision.penalty.PenaltyCaseEvent` records directly::

    GET /api/standard/penalty-events?cursor=<n>&limit=<1..1000, default 200>
    Authorization: Bearer <token>          (401 + WWW-Authenticate: Bearer without it)
    -> 200 {"schema": "gov.zj.supervision.penalty.PenaltyCaseEvent", "items": [...],
            "next_cursor": "<n>", "has_more": bool}
    -> 400 {"detail": "invalid cursor"}

``cursor`` is the number of records already read (decimal; omit it to start at 0);
``next_cursor`` is always present.

**JSON form of a standard record** (what :func:`to_json` writes and :func:`from_json` reads
back into the fastavro-ready form): a record is an object with every schema field; a union
``["null", X]`` is ``null`` or the bare X value (no Avro-JSON ``{"string": ...}`` wrapping); an
enum is its symbol; ``date`` is an ISO string ``yyyy-MM-dd``; ``timestamp-millis`` is an
integer, milliseconds since the epoch (UTC); ``decimal`` is a string with the schema's scale
(``"12500.00"``); arrays are arrays.

Each record is one lifecycle event of a :class:`~ops.simulators.cases.CaseGenerator` case,
attributed to one of the 28 departments (:data:`DEPARTMENTS`, stable per case) in
``envelope.department_code`` and ``implementing_agency``.  The envelope is the system's own:
``record_id`` ``unified_cases:<case>:<version>``, ``source_position`` {``partition``
``penalty-events``, ``offset`` = 1-based row number}, ``source_key`` = ``case_id``,
``source_version`` = version, ``event_time`` = ``stage_time``; the hub's runner re-stamps the
runner-owned envelope fields.  Defects are ``CaseGenerator``'s data defects, visible in the
standard fields: ``bad_uscc_check``/``bad_resident_id``/``fullwidth_digits`` in
``counterpart.id_code`` (full-width ones are repairable if the connector lists that identifier
field), ``unknown_region`` in ``region_code`` and ``envelope.region_code``, ``missing_required``
as ``counterpart.name: null`` (``schema``), ``bad_item_code`` in ``catalog_code``,
``date_order`` as ``decision_date`` before ``filing_date``.  Ledger: one entry per record
appended; ``position`` = its row number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Header, Query

from ops.simulators.base import HttpSimulator, epoch_ms, token_cli
from ops.simulators.cases import EXECUTION_MODES, SimEvent
from ops.simulators.paging import add_health, cursor_window, require_bearer
from schemas import loader
from schemas.codes import make_batch, make_uscc
from schemas.regions import region_name

SCHEMA = "gov.zj.supervision.penalty.PenaltyCaseEvent"
#: (department code, agency kind at county level) of the 28 departments on the unified system.
DEPARTMENTS = [
    ("330000FGW", "发展和改革局"), ("330000JXT", "经济和信息化局"), ("330000JYT", "教育局"),
    ("330000KJT", "科学技术局"), ("330000MZT", "民政局"), ("330000SFT", "司法局"), ("330000CZT", "财政局"),
    ("330000RST", "人力资源和社会保障局"), ("330000JST", "住房和城乡建设局"), ("330000SLT", "水利局"),
    ("330000NYT", "农业农村局"), ("330000SWT", "商务局"), ("330000WHT", "文化和旅游局"), ("330000TJJ", "统计局"),
    ("330000GDJ", "广播电视局"), ("330000TYJ", "体育局"), ("330000YBJ", "医疗保障局"), ("330000LYJ", "林业局"),
    ("330000RFB", "人民防空办公室"), ("330000DAJ", "档案局"), ("330000MZW", "民族宗教事务局"),
    ("330000TYS", "退役军人事务局"), ("330000JRJ", "金融工作局"), ("330000QXJ", "气象局"),
    ("330000YCJ", "烟草专卖局"), ("330000WWJ", "文物局"), ("330000XFJ", "消防救援大队"), ("330000DZJ", "地震局"),
]
_EXEC_CODES = {name: code for code, name in EXECUTION_MODES}


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _coded(code: str | None, name: str | None, system: str | None = None) -> dict | None:
    return None if code is None else {"code": code, "name": name, "code_system": system}


def _money(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v).quantize(Decimal("0.01"))


def department_of(case_id: str) -> tuple[str, str]:
    """The department (code, agency kind) a case belongs to: stable per case id."""
    return DEPARTMENTS[_stable(case_id) % len(DEPARTMENTS)]


def agency_uscc(department: str, region: str) -> str:
    """A valid, stable USCC of ``department``'s agency in ``region`` (public body, ``11...``)."""
    h = _stable(f"{department}:{region}")
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "".join(chars[(h >> (5 * i)) % 31] for i in range(8))
    return make_uscc(region, body, "1", "1")


def standard_event(ev: SimEvent, seq: int, system: str = "unified_cases") -> dict:
    """The fastavro-ready ``PenaltyCaseEvent`` of one generator event (``seq`` = row number)."""
    f = ev.fields
    key = ev.source_key
    dept, kind = department_of(key)
    region = f["region_code"]
    uscc = agency_uscc(dept, region if region.isdigit() and len(region) == 6 else "330000")
    person = f["party_type"] == "person"
    stage_ms = epoch_ms(f["stage_time"])
    decided = f["decision_date"] is not None
    referred = f["referral_date"] is not None
    stage = "other" if ev.stage == "withdrawn" else ev.stage
    return {
        "envelope": {
            "record_id": f"{system}:{key}:{ev.version}", "source_system": system,
            "source_position": {"partition": "penalty-events", "offset": str(seq)},
            "operation": ev.operation, "event_time": stage_ms, "ingest_time": stage_ms,
            "region_code": region, "department_code": dept, "trace_id": None,
            "batch": make_batch(f["stage_time"].date(), seq % 100000), "source_key": key,
            "source_version": str(ev.version),
        },
        "case_id": key, "stage": stage, "stage_time": stage_ms,
        "stage_document_number": f["stage_document_number"], "stage_reason": f["stage_reason"],
        "extension_days": None,
        "officers": [{"name": f[f"officer{i}_name"], "certificate_number": f[f"officer{i}_cert"]} for i in (1, 2)],
        "origin_ref": f["origin_ref"], "penalty_name": f["penalty_name"], "penalty_number": key,
        "catalog_code": f["catalog_code"], "implementation_code": uscc + f["implementation_code"][18:],
        "implementing_agency": {"code": uscc, "name": f"{region_name(region) or ''}{kind}", "code_system": None},
        "entrusted_department": None,
        "counterpart": {
            "entity_id": None,
            "object_type": _coded("2" if person else "1", "自然人" if person else "法人"),
            "name": f["party_name"],
            "nature": _coded("3" if person else "1", "自然人" if person else "法人及非法人组织"),
            "id_type": _coded("111" if person else "001", "居民身份证" if person else "统一社会信用代码"),
            "id_code": f["party_id"], "registered_address": f["party_address"],
            "operating_address": None if person else f["party_address"],
        },
        "region_code": region,
        "case_source": _coded(f["case_source_code"], f["case_source_name"]),
        "inspection_number": f["inspection_number"], "illegal_facts": f["facts"], "legal_basis": f["legal_basis"],
        "procedure": f["procedure"], "hearing_held": False if decided else None,
        "criminal_referral": referred, "filing_date": f["filing_date"],
        "major_case": None if f["fine_amount"] is None else Decimal(f["fine_amount"]) >= 100000,
        "legal_review": True if decided and f["procedure"] == "ordinary" else None,
        "legal_review_date": None, "legal_review_opinion": None, "collective_discussion": None,
        "collective_discussion_date": None, "collective_discussion_conclusion": None,
        "decision_document_number": f["decision_number"], "decision_date": f["decision_date"],
        "penalty_kinds": [_coded(f["penalty_kind_code"], f["penalty_kind_name"], "penalty_kind")]
        if f["penalty_kind_code"] else [],
        "fine_amount": _money(f["fine_amount"]), "confiscation_amount": None,
        "penalty_result": f["penalty_result"],
        "reconsideration": _coded("0", "未申请") if decided else None,
        "litigation": _coded("0", "未起诉") if decided else None,
        "execution_mode": _coded(_EXEC_CODES.get(f["execution_mode"]), f["execution_mode"]),
        "execution_result": "执行完毕" if f["closing_date"] else None,
        "fine_paid": _money(f["fine_paid"]), "no_penalty": True if ev.stage == "not_filed" else None,
        "closing_date": f["closing_date"], "other_handling": None, "referral_date": f["referral_date"],
        "submitted_time": stage_ms + 600_000, "submitter": f["officer1_name"],
    }


# ------------------------------------------------------------------ the JSON form

def to_json(value: Any) -> Any:
    """Avro-ready value -> JSON form (dates ISO, decimals strings; timestamps are already ints)."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _named(node: Any, out: dict) -> dict:
    if isinstance(node, list):
        for n in node:
            _named(n, out)
    elif isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed") and "name" in node:
            out.setdefault(node["name"], node)
        for k in ("fields", "items", "values"):
            if k in node:
                _named(node[k], out)
        for field in node.get("fields", []):
            _named(field["type"], out)
    return out


def from_json(doc: Any, schema: str = SCHEMA) -> Any:
    """JSON form -> fastavro-ready value (ISO dates -> ``date``, decimal strings -> ``Decimal``).

    Values that do not fit (e.g. a malformed date) are passed through unchanged, so schema
    validation reports them.
    """
    parsed = loader.load(schema)
    names = _named(parsed, {})

    def conv(node: Any, v: Any) -> Any:
        if isinstance(node, str):
            node = names.get(node, node)
        if isinstance(node, list):
            if v is None:
                return None
            branches = [b for b in node if b != "null"]
            return conv(branches[0], v) if len(branches) == 1 else v
        if not isinstance(node, dict) or v is None:
            return v
        logical, kind = node.get("logicalType"), node.get("type")
        try:
            if logical == "date" and isinstance(v, str):
                return dt.date.fromisoformat(v)
            if logical == "decimal" and isinstance(v, str | int | float):
                return Decimal(str(v))
        except (ValueError, ArithmeticError):
            return v
        if kind == "record" and isinstance(v, dict):
            return {fl["name"]: conv(fl["type"], v.get(fl["name"])) for fl in node["fields"] if fl["name"] in v}
        if kind == "array" and isinstance(v, list):
            return [conv(node["items"], x) for x in v]
        return v

    return conv(parsed, doc)


class UnifiedCasesSimulator(HttpSimulator):
    system = "unified_cases"
    department_code = "330000TYBA"
    agency_kind = "综合行政执法局"

    def __init__(self, *args, token: str = "unified-sim-token", **kw):
        self.token = token
        super().__init__(*args, **kw)

    def render(self, ev: SimEvent) -> dict:
        return to_json(standard_event(ev, len(self.rows) + 1, self.system))

    def build_app(self) -> FastAPI:
        app = FastAPI(title="统一处罚办案系统 标准数据接口 (simulated)")

        @app.get("/api/standard/penalty-events")
        def events(cursor: str | None = None, limit: int = Query(200, ge=1, le=1000),
                   authorization: str | None = Header(None)):
            require_bearer(authorization, self.token)
            items, end, n = cursor_window(self.rows, self.lock, cursor, limit)
            return {"schema": SCHEMA, "items": items, "next_cursor": str(end), "has_more": end < n}

        add_health(app, self)
        return app


def main(argv=None) -> None:
    token_cli(UnifiedCasesSimulator, "unified-sim-token",
              "Simulated unified case-handling system (standard PenaltyCaseEvent JSON, cursor paging, bearer)",
              argv)


if __name__ == "__main__":
    main()
