"""Realistic standard records (Faker ``zh_CN``, valid USCCs and resident IDs, Zhejiang regions).

Deterministic for a given seed, so benchmarks and tests compare like with like.
"""

from __future__ import annotations

import random
import time
from datetime import date, timedelta
from decimal import Decimal

from faker import Faker

from schemas.codes import make_resident_id, make_uscc
from schemas.regions import counties

ZJ_COUNTIES = counties("330000")
PENALTY_KINDS = [("02", "罚款"), ("01", "警告"), ("03", "没收违法所得"), ("04", "没收非法财物")]
DEPARTMENTS = [("330000SCJ", "浙江省市场监督管理局"), ("330000STJ", "浙江省生态环境厅"),
               ("330000JTT", "浙江省交通运输厅"), ("330000YJJ", "浙江省药品监督管理局")]
FACTS = [
    "当事人销售不符合食品安全标准的食品，货值金额{amt}元。",
    "当事人未取得排污许可证擅自排放水污染物，超标{pct}%。",
    "当事人经营的医疗美容机构超范围开展诊疗活动{n}次。",
    "当事人在建筑工地未采取扬尘防治措施，被群众举报{n}次。",
]


class RecordFactory:
    """Builds standard records; one instance per thread (Faker and Random are not shared)."""

    def __init__(self, seed: int = 2024, source_system: str = "bench"):
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.rng = random.Random(seed)
        self.source_system = source_system
        self.now_ms = int(time.time() * 1000)

    def uscc(self, region: str) -> str:
        body = "".join(self.rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
        return make_uscc(region, body)

    def resident_id(self, region: str) -> str:
        born = date(1960, 1, 1) + timedelta(days=self.rng.randrange(0, 16000))
        return make_resident_id(region, born, self.rng.randrange(1, 999))

    def envelope(self, seq: int, region: str, department: str) -> dict:
        return {
            "record_id": f"{self.source_system}:{seq}:1",
            "source_system": self.source_system,
            "source_position": {"partition": "0", "offset": str(seq)},
            "operation": "i",
            "event_time": self.now_ms - self.rng.randrange(0, 86_400_000),
            "ingest_time": self.now_ms,
            "region_code": region,
            "department_code": department,
            "trace_id": None,
            "batch": f"{date.today():%Y%m%d}{seq % 100000:05d}",
            "source_key": f"CASE-{seq:08d}",
            "source_version": "1",
        }

    def penalty_decision(self, seq: int) -> dict:
        """A decision-stage :class:`PenaltyCaseEvent` with about 30 populated fields."""
        rng, fake = self.rng, self.fake
        region = rng.choice(ZJ_COUNTIES)
        dept_code, dept_name = rng.choice(DEPARTMENTS)
        agency_uscc = self.uscc(region)
        decided = date.today() - timedelta(days=rng.randrange(0, 365))
        filed = decided - timedelta(days=rng.randrange(10, 80))
        kind = rng.choice(PENALTY_KINDS)
        amount = Decimal(rng.randrange(200, 2_000_000)) / 100
        natural = rng.random() < 0.3
        party_region = rng.choice(ZJ_COUNTIES)
        return {
            "envelope": self.envelope(seq, region, dept_code),
            "case_id": f"{dept_code}-{seq:08d}",
            "stage": "decision",
            "stage_time": self.now_ms,
            "stage_document_number": f"浙{region[:4]}罚〔{decided.year}〕{seq % 10000}号",
            "officers": [{"name": fake.name(), "certificate_number": f"33{rng.randrange(10**9):09d}"}
                         for _ in range(2)],
            "penalty_name": f"{fake.company()}{kind[1]}案",
            "penalty_number": f"{dept_code}-CF-{seq:08d}",
            "catalog_code": f"{rng.randrange(10**14):014d}",
            "implementation_code": f"{agency_uscc}1{rng.randrange(1000):03d}",
            "implementing_agency": {"code": agency_uscc, "name": dept_name, "code_system": None},
            "counterpart": {
                "entity_id": None,
                "object_type": {"code": "2" if natural else "1", "name": "自然人" if natural else "法人",
                                "code_system": None},
                "name": fake.name() if natural else fake.company(),
                "nature": {"code": "2" if natural else "1", "name": "自然人" if natural else "法人及其他组织",
                           "code_system": None},
                "id_type": {"code": "111" if natural else "001",
                            "name": "居民身份证" if natural else "统一社会信用代码", "code_system": None},
                "id_code": self.resident_id(party_region) if natural else self.uscc(party_region),
                "registered_address": fake.address(),
                "operating_address": fake.address(),
            },
            "region_code": region,
            "case_source": {"code": "03", "name": "投诉举报", "code_system": None},
            "inspection_number": f"JC{seq:010d}",
            "illegal_facts": rng.choice(FACTS).format(amt=amount, pct=rng.randrange(5, 300), n=rng.randrange(2, 9)),
            "legal_basis": "《中华人民共和国行政处罚法》第二十八条、《中华人民共和国食品安全法》第一百二十四条",
            "procedure": "ordinary",
            "hearing_held": rng.random() < 0.1,
            "criminal_referral": False,
            "filing_date": filed,
            "major_case": amount > 100000,
            "legal_review": True,
            "legal_review_date": decided - timedelta(days=3),
            "decision_document_number": f"浙{region[:4]}罚决〔{decided.year}〕{seq % 10000}号",
            "decision_date": decided,
            "penalty_kinds": [{"code": kind[0], "name": kind[1], "code_system": "penalty_kind"}],
            "fine_amount": amount if kind[0] == "02" else None,
            "penalty_result": f"{kind[1]}，{amount}元" if kind[0] == "02" else kind[1],
            "reconsideration": {"code": "0", "name": "未申请", "code_system": None},
            "litigation": {"code": "0", "name": "未起诉", "code_system": None},
            "submitted_time": self.now_ms,
            "submitter": fake.name(),
        }
