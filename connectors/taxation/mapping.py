"""Pure mapping: one taxation ``<case>`` (decoded to a flat dict of element names) → a PenaltyCaseEvent.

Dialect: ``ajbh`` case number, ``bbh`` version, ``czlx`` I/U/D, ``hj`` stage, ``hjsj`` stage time
(local xs:dateTime, China Standard Time), ``nsrlx`` 单位/个人, ``nsrsbh`` credit code or resident
ID, ``zfry1/zfzh1/zfry2/zfzh2`` officers, ``larq/gzrq/jdrq/jarq/ysrq`` dates, ``fkje/sjje`` money,
``ajly`` / ``cfzl`` / ``zxfs`` code names (translated through :mod:`connectors.codelists`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from connectors.codelists import by_name
from connectors.runtime.contract import Mapped, MappingError, RawRecord

TOPIC = "penalty.case.events"
CST = timezone(timedelta(hours=8))
STAGES = {"case_source", "filing", "not_filed", "investigation", "suspension", "resumption", "notice",
          "hearing", "decision", "execution", "closing", "archive", "criminal_referral", "termination"}


def _ms(text: str | None, field: str) -> int | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MappingError("bad_datetime", f"{field} is not an xs:dateTime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)  # the service writes local time without an offset
    return int(moment.timestamp() * 1000)


def _date(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MappingError("bad_date", f"{field} is not an xs:date") from None


def _money(text: str | None, field: str) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise MappingError("bad_decimal", f"{field} is not a decimal") from None


def _coded(list_name: str, name: str | None, field: str) -> dict | None:
    if not name:
        return None
    try:
        return by_name(list_name, name)
    except KeyError:
        raise MappingError("unknown_code", f"{field} is not in code list {list_name}") from None


def map_case(doc: dict, raw: RawRecord, department_code: str = "330000SWJ") -> list[Mapped]:
    """The standard event for one case snapshot; ``MappingError`` for values it cannot translate."""
    if not isinstance(doc, dict) or not doc.get("ajbh"):
        raise MappingError("missing_field", "ajbh (case number) is missing")
    stage_time = _ms(doc.get("hjsj"), "hjsj")
    if stage_time is None:
        raise MappingError("missing_field", "hjsj (stage time) is missing")
    operation = (doc.get("czlx") or "U").lower()
    person = doc.get("nsrlx") == "个人"
    officers = [{"name": doc[n], "certificate_number": doc[c]}
                for n, c in (("zfry1", "zfzh1"), ("zfry2", "zfzh2")) if doc.get(n) and doc.get(c)]
    kind = _coded("penalty_kind", doc.get("cfzl"), "cfzl")
    value = {
        "envelope": {
            "operation": operation if operation in ("i", "u", "d") else "u",
            "event_time": stage_time,
            "region_code": doc.get("xzqh"),
            "department_code": department_code,
        },
        "case_id": f"{department_code}-{doc['ajbh']}",
        "stage": doc.get("hj") if doc.get("hj") in STAGES else "other",
        "stage_time": stage_time,
        "stage_document_number": doc.get("wsh"),
        "stage_reason": doc.get("yy"),
        "officers": officers,
        "penalty_name": doc.get("ajmc"),
        "penalty_number": doc["ajbh"],
        "catalog_code": doc.get("sxbm"),
        "implementation_code": doc.get("ssqdbm"),
        "implementing_agency": {"code": doc.get("swjgdm"), "name": doc.get("swjg"), "code_system": "uscc"},
        "counterpart": {
            "name": doc.get("nsrmc"),
            "nature": {"code": "2" if person else "1", "name": "自然人" if person else "法人及其他组织",
                       "code_system": "party_nature"},
            "id_type": {"code": "111" if person else "001", "name": "居民身份证" if person else "统一社会信用代码",
                        "code_system": "id_type"},
            "id_code": doc.get("nsrsbh"),
            "registered_address": doc.get("dz"),
        },
        "region_code": doc.get("xzqh"),
        "case_source": _coded("case_source", doc.get("ajly"), "ajly"),
        "inspection_number": doc.get("jcbh"),
        "illegal_facts": doc.get("wfss"),
        "legal_basis": doc.get("cfyj"),
        "procedure": "simple" if doc.get("cxlx") == "简易程序" else "ordinary",
        "filing_date": _date(doc.get("larq"), "larq"),
        "decision_document_number": doc.get("jdswh"),
        "decision_date": _date(doc.get("jdrq"), "jdrq"),
        "penalty_kinds": [kind] if kind else [],
        "fine_amount": _money(doc.get("fkje"), "fkje"),
        "penalty_result": doc.get("cfjg"),
        "execution_mode": _coded("execution_mode", doc.get("zxfs"), "zxfs"),
        "fine_paid": _money(doc.get("sjje"), "sjje"),
        "closing_date": _date(doc.get("jarq"), "jarq"),
        "referral_date": _date(doc.get("ysrq"), "ysrq"),
    }
    return [Mapped(TOPIC, value)]
