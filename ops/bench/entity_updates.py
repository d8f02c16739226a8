"""Synthetic entity-update streams with a known answer, for the registry crash test and benchmark.

:func:`make_updates` returns ``count`` standard ``SupervisedEntity`` records from one source
(``market_entities``, the registration system): entities with several versions each, delivered out of order within
windows, plus about 4 % exact duplicates (same record id) re-sent later, and the expected
golden record per entity (its highest source version). Valid USCCs over every county of the
eleven Zhejiang cities.
"""

from __future__ import annotations

import json
import random

from schemas import codes, loader, regions

SOURCE = "market_entities"
INDUSTRIES = [("H6210", "正餐服务"), ("F5221", "百货零售"), ("C2710", "化学药品原料药制造"), ("G5430", "道路货物运输")]
STATUSES = [("1", "存续"), ("2", "吊销"), ("3", "注销")]
_ENTITY = "gov.zj.supervision.entity.SupervisedEntity"


def _blank_entity() -> dict:
    fields = json.loads(loader.schema_json(_ENTITY))["fields"]
    return {f["name"]: ([] if isinstance(f["type"], dict) and f["type"].get("type") == "array" else None)
            for f in fields}


def entity_record(uscc: str, county: str, version: int, name: str, industry: tuple[str, str],
                  status: tuple[str, str]) -> dict:
    record = _blank_entity()
    record.update(
        entity_id=uscc, kind="enterprise", uscc=uscc, name=name, region_code=county,
        industry={"code": industry[0], "name": industry[1], "code_system": "GB/T 4754-2017"},
        status={"code": status[0], "name": status[1], "code_system": None},
        envelope={
            "record_id": f"{SOURCE}:{uscc}:{version:06d}", "source_system": SOURCE,
            "source_position": {"partition": SOURCE, "offset": f"{version:06d}"}, "operation": "u",
            "event_time": 1_700_000_000_000 + version * 1000, "ingest_time": 1_700_000_000_000 + version * 1000,
            "region_code": county, "department_code": f"{county}SCJ", "trace_id": None, "batch": None,
            "source_key": uscc, "source_version": f"{version:06d}",
        },
    )
    return record


def make_updates(count: int = 50_000, seed: int = 7, versions: int = 4,
                 duplicate_share: float = 0.04) -> tuple[list[dict], dict[str, dict]]:
    """``(stream, expected)``: ``count`` records in delivery order, and entity id -> expected golden source record."""
    rng = random.Random(seed)
    counties = [c for city in regions.cities() for c in regions.counties(city)]
    distinct: list[dict] = []
    expected: dict[str, dict] = {}
    n_entities = max(1, int(count * (1 - duplicate_share)) // versions)
    for i in range(n_entities):
        county = counties[i % len(counties)]
        uscc = codes.make_uscc(county, f"{i:09d}")
        for version in range(1, versions + 1):
            record = entity_record(uscc, county, version, f"测试企业{i}号v{version}", rng.choice(INDUSTRIES),
                                   rng.choice(STATUSES))
            distinct.append(record)
        expected[uscc] = distinct[-1]
    stream: list[dict] = []
    for start in range(0, len(distinct), 64):
        window = distinct[start:start + 64]
        rng.shuffle(window)
        stream.extend(window)
    while len(stream) < count:
        stream.insert(rng.randrange(len(stream)), rng.choice(distinct))
    return stream, expected
