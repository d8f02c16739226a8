"""Dialect-free penalty-case generator: lifecycle events with a known share of defects.

:class:`CaseGenerator` walks penalty cases through the standard lifecycle (DESIGN.md §1 row 5,
§7): case source -> filing -> investigation -> notice -> decision -> execution -> closing ->
archive, with some leads not filed, some cases suspended and resumed, a few referred for
criminal prosecution or terminated, and simple-procedure cases that skip filing.  Each stage
is one :class:`SimEvent`: a full snapshot of the case row after that stage, versioned 1, 2, 3,
... per case (``source_key`` = case number).  Dialects (``public_security``, ``health``, ...)
only rename and reformat these neutral fields.

Deterministic: the same ``seed``, ``department_code`` and options give the same events in the
same order (dates are anchored on ``anchor``, a fixed day by default, not on "today").

Defects (``SimEvent.defect``) and what the hub must do with them -- see :data:`REASONS`:

* data defects, applied to a copy of one event's fields: ``bad_uscc_check`` (enterprise
  party, wrong check character), ``bad_resident_id`` (natural person, wrong check digit),
  ``unknown_region`` (case region is a retired or non-existent code), ``missing_required``
  (``party_name`` is ``None``; only on events from filing on, where the counterpart is
  required), ``bad_item_code`` (catalog code not 14 digits), ``date_order`` (decision date
  before the filing date; decision stage and later of ordinary cases), ``fullwidth_digits``
  (the party id written in full-width characters: *repairable*, to be accepted after
  :func:`schemas.codes.normalize_identifier`);
* ``gb18030_in_utf8``: fields unchanged; the dialect encodes that record's text in GB18030
  while its feed declares UTF-8.  Only dialects that can carry invalid bytes (file drops)
  enable it -- pass ``defects=`` accordingly;
* ``duplicate``: an exact re-send of an earlier good event (same key, version and fields);
* ``out_of_order``: an earlier good version of a case re-sent after a newer version of it.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from faker import Faker

from ops.simulators.entity_pool import EntityPool, shared_pool
from ops.simulators.stream import Item, VersionStream
from schemas.codes import make_resident_id, make_uscc
from schemas.regions import RETIRED_REGIONS, counties, region_name

#: Expected dead-letter reason code per defect kind (``None``: the record must be accepted).
REASONS: dict[str, str | None] = {
    "bad_uscc_check": "uscc_check",
    "bad_resident_id": "id_check",
    "unknown_region": "region_unknown",
    "missing_required": "schema",
    "gb18030_in_utf8": "encoding",
    "bad_item_code": "item_code_format",
    "date_order": "date_order",
    "fullwidth_digits": None,
    "duplicate": None,
    "out_of_order": None,
}
DATA_DEFECTS = ("bad_uscc_check", "bad_resident_id", "unknown_region", "missing_required",
                "fullwidth_digits", "bad_item_code", "date_order")
ALL_DEFECTS = (*DATA_DEFECTS, "gb18030_in_utf8")
REPAIRABLE = frozenset({"fullwidth_digits"})

ZJ_COUNTIES = counties("330000")
UNKNOWN_REGIONS = sorted(c for c in RETIRED_REGIONS if c.startswith("33")) + ["339999", "330199"]
DEFAULT_ANCHOR = date(2025, 6, 30)

CASE_SOURCES = [("01", "监督检查"), ("02", "投诉举报"), ("03", "其他部门移送"),
                ("04", "上级交办"), ("05", "风险预警"), ("06", "媒体曝光")]
PENALTY_KINDS = [("01", "警告"), ("02", "罚款"), ("03", "没收违法所得"), ("04", "没收非法财物"),
                 ("05", "暂扣许可证件"), ("08", "责令停产停业")]
#: (facts template, legal basis, short name) triples; templates take amt / pct / n.
VIOLATIONS = [
    ("当事人销售不符合食品安全标准的食品，货值金额{amt}元。",
     "《中华人民共和国食品安全法》第一百二十四条第一款", "销售不符合食品安全标准的食品"),
    ("当事人未取得排污许可证擅自排放水污染物，化学需氧量超标{pct}%。",
     "《中华人民共和国水污染防治法》第八十三条", "未取得排污许可证排放污染物"),
    ("当事人经营的医疗美容机构超范围开展诊疗活动{n}次。",
     "《医疗机构管理条例》第四十六条", "超范围开展诊疗活动"),
    ("当事人在建筑工地未采取扬尘防治措施，被群众举报{n}次。",
     "《中华人民共和国大气污染防治法》第一百一十五条", "未采取扬尘防治措施"),
    ("当事人未按规定对危险化学品储存场所进行安全检查，存在重大事故隐患{n}处。",
     "《中华人民共和国安全生产法》第一百零二条", "未履行安全生产检查义务"),
    ("当事人驾驶机动车超载运输，超过核定载质量{pct}%。",
     "《中华人民共和国道路交通安全法》第九十二条", "超载运输"),
    ("当事人经营无合法来源证明的药品，货值金额{amt}元。",
     "《中华人民共和国药品管理法》第一百二十九条", "经营无合法来源证明的药品"),
    ("当事人未按规定申报纳税，少缴税款{amt}元。",
     "《中华人民共和国税收征收管理法》第六十四条", "未按规定申报纳税"),
    ("当事人在公共场所聚众赌博，涉案金额{amt}元。",
     "《中华人民共和国治安管理处罚法》第七十条", "赌博"),
    ("当事人未经批准擅自占用耕地{n}亩建设厂房。",
     "《中华人民共和国土地管理法》第七十七条", "非法占用耕地"),
]
NOT_FILED_REASONS = ["违法事实不成立", "违法行为轻微并及时改正，没有造成危害后果", "不属于本机关管辖"]
TERMINATION_REASONS = ["当事人死亡或者终止，无财产可供执行", "违法行为已过追责时效", "因不可抗力致使案件无法办理"]
SUSPENSION_REASONS = ["涉案物品需检验检测", "当事人因不可抗力无法配合调查", "需等待其他案件结果"]
#: Chinese name of each stage (``withdrawn`` is the simulators' deletion, operation ``d``).
STAGE_NAMES = {"case_source": "案源登记", "filing": "立案", "not_filed": "不予立案",
               "investigation": "调查取证", "suspension": "案件中止", "resumption": "恢复办理",
               "notice": "处罚告知", "decision": "处罚决定", "execution": "处罚执行",
               "closing": "结案", "archive": "归档", "criminal_referral": "移送司法",
               "termination": "案件终止", "withdrawn": "撤回"}
EXECUTION_MODES = [("01", "自觉履行"), ("02", "强制执行"), ("03", "申请法院强制执行")]


@dataclass
class SimEvent:
    """One emitted record: a case snapshot after ``stage``, version ``version`` of ``source_key``.

    ``fields`` are dialect-free names (see :meth:`CaseGenerator._snapshot`); ``defect`` is a
    kind from :data:`REASONS` or ``None``; ``repairable`` marks defects the hub must repair
    and accept; ``operation`` is ``i`` (first version), ``u`` or ``d`` (withdrawal).
    """

    source_key: str
    version: int
    stage: str
    fields: dict
    defect: str | None = None
    repairable: bool = False
    operation: str = "u"

    @property
    def expected_reason(self) -> str | None:
        """Dead-letter reason the hub must give, or ``None`` if the record must be accepted."""
        return REASONS.get(self.defect) if self.defect else None


def add_workdays(d: date, n: int) -> date:
    """``d`` plus ``n`` Monday-Friday days (holidays ignored: stays within any real calendar)."""
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def to_fullwidth(s: str) -> str:
    """ASCII digits and letters -> full-width forms (U+FF10...), as typed with a CJK IME."""
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() else ch for ch in s)


class CaseGenerator(VersionStream):
    """Deterministic stream of :class:`SimEvent` for one department's penalty cases.

    ``bad_ratio`` is the share of events that carry a data defect; ``duplicate_ratio`` and
    ``out_of_order_ratio`` the share of extra re-sends; ``defects`` restricts the data defect
    kinds (default: :data:`DATA_DEFECTS`, i.e. everything but ``gb18030_in_utf8``);
    ``delete_ratio`` the share of finished cases withdrawn by an ``operation="d"`` event;
    ``pool_share`` the share of parties drawn from the entity ``pool`` (default: the demo's
    :func:`~ops.simulators.entity_pool.shared_pool` of ``seed``) -- the same USCC or resident ID
    as the market-entity register, with partly different data (:meth:`EntityPool.variant`).
    Not thread-safe: one generator per simulator.
    """

    def __init__(self, seed: int, department_code: str, bad_ratio: float = 0.05,
                 duplicate_ratio: float = 0.02, out_of_order_ratio: float = 0.02, *,
                 defects: Iterable[str] | None = None, anchor: date = DEFAULT_ANCHOR,
                 delete_ratio: float = 0.0, active_cases: int = 8, key_prefix: str | None = None,
                 agency_kind: str = "综合行政执法局", pool: EntityPool | None = None,
                 pool_share: float = 0.6):
        self.rng = random.Random(f"{seed}:{department_code}")
        self.pool = pool if pool is not None else (shared_pool(seed) if pool_share else None)
        self.pool_share = pool_share
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.department_code = department_code
        self.bad_ratio, self.duplicate_ratio = bad_ratio, duplicate_ratio
        self.out_of_order_ratio, self.delete_ratio = out_of_order_ratio, delete_ratio
        self.defects = tuple(DATA_DEFECTS if defects is None else defects)
        unknown = set(self.defects) - set(ALL_DEFECTS)
        if unknown:
            raise ValueError(f"unknown defect kinds {sorted(unknown)}; valid: {list(ALL_DEFECTS)}")
        self.anchor = anchor
        self.key_prefix = key_prefix or department_code
        self.agency_kind = agency_kind
        self._init_stream()
        self._n_active = active_cases
        self._case_seq = 0
        self._agencies: dict[str, str] = {}
        self._catalog = [f"{self.rng.randrange(10**13, 10**14):014d}" for _ in range(12)]

    # ---------------------------------------------------------------- internals
    def _open_item(self) -> Item:
        return self._new_case()

    def _fresh_event(self) -> SimEvent:
        case, stage, snap = self._advance()
        op = "i" if case.emitted == 1 else ("d" if stage == "withdrawn" else "u")
        ev = SimEvent(case.key, case.emitted, stage, snap, operation=op)
        if op != "d" and self.rng.random() < self.bad_ratio:
            kinds = [k for k in self.defects if self._applicable(k, snap)]
            if kinds:
                self._apply_defect(ev, self.rng.choice(kinds))
        self._remember(ev)
        return ev

    def _applicable(self, kind: str, f: dict) -> bool:
        if kind == "bad_uscc_check":
            return f["party_type"] == "enterprise"
        if kind == "bad_resident_id":
            return f["party_type"] == "person"
        if kind == "missing_required":
            return f["stage"] not in ("case_source", "not_filed")
        if kind == "date_order":
            return f["filing_date"] is not None and f["decision_date"] is not None
        return True

    def _apply_defect(self, ev: SimEvent, kind: str) -> None:
        f = ev.fields = copy.deepcopy(ev.fields)
        ev.defect, ev.repairable = kind, kind in REPAIRABLE
        if kind in ("bad_uscc_check", "bad_resident_id"):
            pid = f["party_id"]
            charset = "0123456789ABCDEFGHJKLMNPQRTUWXY" if kind == "bad_uscc_check" else "0123456789"
            wrong = [c for c in charset if c != pid[-1]]
            f["party_id"] = pid[:-1] + self.rng.choice(wrong)
        elif kind == "unknown_region":
            f["region_code"] = self.rng.choice(UNKNOWN_REGIONS)
        elif kind == "missing_required":
            f["party_name"] = None
        elif kind == "fullwidth_digits":
            f["party_id"] = to_fullwidth(f["party_id"])
        elif kind == "bad_item_code":
            code = f["catalog_code"]
            f["catalog_code"] = self.rng.choice([code[:13], code + "0", code[:6] + "O" + code[7:]])
        elif kind == "date_order":
            f["decision_date"] = f["filing_date"] - timedelta(days=self.rng.randrange(1, 20))
            if f["stage"] == "decision":
                f["stage_time"] = datetime.combine(f["decision_date"], f["stage_time"].time())

    def _agency(self, region: str) -> str:
        if region not in self._agencies:
            body = "".join(self.rng.choice("0123456789") for _ in range(8))
            self._agencies[region] = make_uscc(region, body, registration_dept="1", org_type="1")
        return self._agencies[region]

    def _when(self, d: date) -> datetime:
        return datetime.combine(d, time(8, 30)) + timedelta(minutes=self.rng.randrange(0, 540),
                                                            seconds=self.rng.randrange(60))

    def _pool_party(self) -> dict:
        e = self.pool.entity(self.rng.randrange(self.pool.size))
        v = self.pool.variant(e, self.rng)
        if e.kind == "natural_person":
            return {"party_type": "person", "party_name": v["name"], "party_id_type": "111",
                    "party_id": e.resident_id, "party_legal_rep": None, "party_address": v["address"]}
        return {"party_type": "enterprise", "party_name": v["name"], "party_id_type": "001", "party_id": e.uscc,
                "party_legal_rep": v["legal_representative"], "party_address": v["address"]}

    def _party(self, region: str) -> dict:
        rng, fake = self.rng, self.fake
        if self.pool is not None and rng.random() < self.pool_share:
            return self._pool_party()
        if rng.random() < 0.7:
            body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
            return {"party_type": "enterprise", "party_name": fake.company(),
                    "party_id_type": "001", "party_id": make_uscc(region, body),
                    "party_legal_rep": fake.name(), "party_address": self.address(region)}
        born = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 15000))
        region6 = rng.choice(ZJ_COUNTIES) if rng.random() < 0.8 else rng.choice(["320102", "340102", "310101"])
        return {"party_type": "person", "party_name": fake.name(), "party_id_type": "111",
                "party_id": make_resident_id(region6, born, rng.randrange(1, 999)),
                "party_legal_rep": None, "party_address": self.address(region6)}

    def _new_case(self) -> Item:
        rng, fake = self.rng, self.fake
        self._case_seq += 1
        seq = self._case_seq
        region = rng.choice(ZJ_COUNTIES)
        agency = self._agency(region)
        lead = self.anchor - timedelta(days=rng.randrange(20, 540))
        year = lead.year
        key = f"{self.key_prefix}-{year}-{seq:06d}"
        facts_t, basis, short = rng.choice(VIOLATIONS)
        amount = rng.randrange(2_000, 50_000_000) / 100
        facts = facts_t.format(amt=f"{amount:.2f}", pct=rng.randrange(5, 300), n=rng.randrange(2, 9))
        source = rng.choice(CASE_SOURCES)
        party = self._party(region)
        officers = [(fake.name(), f"{region[:4]}{rng.randrange(10**6, 10**7)}") for _ in range(2)]
        base = {
            "case_number": key, "department_code": self.department_code,
            "agency_uscc": agency, "agency_name": f"{region_name(region)}{self.agency_kind}",
            "region_code": region, "case_source_code": source[0], "case_source_name": source[1],
            "origin_ref": f"LEAD-{seq:08d}", **party,
            "officer1_name": officers[0][0], "officer1_cert": officers[0][1],
            "officer2_name": officers[1][0], "officer2_cert": officers[1][1],
            "catalog_code": rng.choice(self._catalog),
            "implementation_code": f"{agency}{rng.randrange(1, 6)}{rng.randrange(1000):03d}",
            "inspection_number": f"JC{region}{seq:08d}", "facts": facts, "legal_basis": basis,
            "penalty_name": f"{party['party_name']}{short}案", "procedure": "ordinary",
            "stage_reason": None, "stage_document_number": None,
            "filing_date": None, "filing_time": None, "notice_date": None, "decision_date": None,
            "decision_number": None, "penalty_kind_code": None, "penalty_kind_name": None,
            "fine_amount": None, "penalty_result": None, "execution_mode": None,
            "fine_paid": None, "closing_date": None, "referral_date": None,
        }
        tl: list[tuple[str, datetime, dict]] = [("case_source", self._when(lead), {})]
        roll = rng.random()
        person = party["party_type"] == "person"
        if roll < 0.08:
            d = add_workdays(lead, rng.randrange(3, 12))
            tl.append(("not_filed", self._when(d), {"stage_reason": rng.choice(NOT_FILED_REASONS)}))
        elif roll < 0.18:  # simple procedure: on-the-spot decision, no filing
            d = lead + timedelta(days=rng.randrange(0, 2))
            fine = rng.randrange(50, 200 if person else 3000)
            tl += self._decision(d, key, f"{fine:.2f}", ("02", "罚款"), "simple")
        else:
            filed = add_workdays(lead, rng.randrange(1, 12))
            filed_at = self._when(filed)
            tl.append(("filing", filed_at, {"filing_date": filed, "filing_time": filed_at,
                       "stage_document_number": f"{key}-LA"}))
            d = filed + timedelta(days=rng.randrange(1, 6))
            tl.append(("investigation", self._when(d), {}))
            if roll < 0.24:
                d += timedelta(days=rng.randrange(2, 9))
                tl.append(("suspension", self._when(d), {"stage_reason": rng.choice(SUSPENSION_REASONS)}))
                d += timedelta(days=rng.randrange(3, 16))
                tl.append(("resumption", self._when(d), {"stage_reason": "中止原因消除"}))
            if roll < 0.27:
                d += timedelta(days=rng.randrange(3, 21))
                tl.append(("criminal_referral", self._when(d), {"referral_date": d,
                           "stage_reason": "涉嫌犯罪，移送司法机关"}))
            elif roll < 0.30:
                d += timedelta(days=rng.randrange(5, 31))
                tl.append(("termination", self._when(d), {"stage_reason": rng.choice(TERMINATION_REASONS)}))
            else:
                d += timedelta(days=rng.randrange(5, 31))
                tl.append(("notice", self._when(d), {"notice_date": d,
                           "stage_document_number": f"{key}-GZ"}))
                kind = rng.choice(PENALTY_KINDS)
                fine = rng.randrange(200, 20_000) if person else rng.randrange(1_000, 500_000)
                tl += self._decision(add_workdays(d, rng.randrange(6, 10)), key,
                                     f"{fine:.2f}", kind, "ordinary")
        if rng.random() < self.delete_ratio and tl[-1][0] in ("archive", "not_filed"):
            tl.append(("withdrawn", tl[-1][1] + timedelta(days=rng.randrange(1, 30)),
                       {"stage_reason": "数据撤回"}))
        for i in range(1, len(tl)):  # same-day stages: keep stage times strictly increasing
            if tl[i][1] <= tl[i - 1][1]:
                tl[i] = (tl[i][0], tl[i - 1][1] + timedelta(minutes=rng.randrange(5, 60)), tl[i][2])
                if tl[i][0] == "filing":
                    tl[i][2]["filing_time"] = tl[i][1]
        limit = datetime.combine(self.anchor, time(23, 59))
        tl = [t for t in tl if t[1] <= limit] or tl[:1]
        return Item(key, base, tl)

    def _decision(self, d: date, key: str, fine: str, kind: tuple[str, str],
                  procedure: str) -> list[tuple[str, datetime, dict]]:
        rng = self.rng
        with_fine = kind[0] == "02"
        dec = {"decision_date": d, "decision_number": f"浙{key[-6:]}罚决〔{d.year}〕{rng.randrange(1, 999)}号",
               "penalty_kind_code": kind[0], "penalty_kind_name": kind[1],
               "fine_amount": fine if with_fine else None, "procedure": procedure,
               "penalty_result": f"{kind[1]}人民币{fine}元" if with_fine else kind[1],
               "stage_document_number": f"{key}-JD"}
        ex = d + timedelta(days=rng.randrange(1, 15))
        mode = EXECUTION_MODES[0] if rng.random() < 0.9 else rng.choice(EXECUTION_MODES[1:])
        closed = ex + timedelta(days=rng.randrange(1, 20))
        return [("decision", self._when(d), dec),
                ("execution", self._when(ex), {"execution_mode": mode[1],
                                               "fine_paid": fine if with_fine else None}),
                ("closing", self._when(closed), {"closing_date": closed}),
                ("archive", self._when(closed + timedelta(days=rng.randrange(1, 30))), {})]
