"""Registry scale benchmark (part 2): "who supervises me", a 5 % draw and RSS at 1,000,000 entities.

    .venv/bin/python -m ops.bench.registry_scale_bench [--entities 1000000] [--database sqlite|postgresql]
        [--pg-url postgresql://127.0.0.1:5432/test] [--queries 2000] [--json]

Method:

1. **Populate** a fresh database (a SQLite file in a temp dir, or a throw-away PostgreSQL
   schema) with the registry tables exactly as the processors write them: ``--items`` (200)
   supervision items in ``items`` / ``item_versions`` spread over every enforcement domain of
   :mod:`schemas.domains` (``industry_codes`` = the domain's GB/T 4754 prefixes, as
   :func:`processors.items.processor.industry_codes` writes it; ``implementations`` = the
   standard ``ItemImplementation`` list of the domain's departments at province, city and
   county level, JSON as the items processor stores it); ``--entities`` golden entities in
   ``entities`` (enterprises 35 %, individual businesses 64 %, specific natural persons 1 %,
   keyed by the hub pseudonym of their resident ID), spread over the 90 counties of the 11
   Zhejiang cities, each with a GB/T 4754 class that at least one domain maps, a valid USCC
   (:func:`schemas.codes.make_uscc`) and a merged standard record (``record`` JSON) of
   realistic size; their derived ``entity_item_links`` computed by the real
   :func:`processors.entities.links.derive` over the real :class:`~processors.entities.links.ItemIndex`
   of those items (``link_id``, ``rule``, department codes and names exactly as the entities
   processor writes them); and ``--officers`` (20,000) officers with valid certificates
   across every domain department of every region. Rows go in with SQLAlchemy Core
   executemany, ``--chunk`` rows per transaction; a progress line every chunk. Not written:
   ``entity_source_versions`` (the per-source history; no measured path reads it).
2. **Queries** over HTTP against the real API (:func:`hub_api.main.create_app` in
   :class:`ops.threaded_server.ThreadedServer`, in this process) with one keep-alive
   ``httpx`` client, sequential: ``--queries`` ``GET /registries/entities/{id}/supervisors``
   for uniformly random entity ids (p50 / p99 / mean ms, requests/s), then ``--page-queries``
   ``GET /registries/departments/{code}/entities`` (first page of 50) for random county
   departments.
3. **Draw**: ``POST /sampling/plans`` with every item's code (the object pool is the
   entities with an active link to one of the plan's items, so all N are in it), ratio
   0.05, two inspectors per object; then ``POST /sampling/plans/{id}/draw`` (timed: freeze
   both pools, draw, store, answer with the draw) and ``GET /sampling/plans/{id}/verify``
   (timed: the server re-runs the published draw).
4. **Memory and size**: peak RSS of this process (it hosts the API thread) from
   ``resource.getrusage``, current RSS (``VmRSS``) after each phase; the database size
   (SQLite file + WAL, or ``pg_total_relation_size`` of the schema's tables).

Link density: derivation applies every item of a domain to every industry of that domain
at each level it is implemented (here province, city and county), so links per entity ≈ 3 ×
items per domain × domains matched: ~90 with 200 items (20 per domain), ~13.5 with
``--items 30``. At 1,000,000 entities 200 items mean ~90 million link rows (~37 GB on SQLite,
measured at 20,000 entities); the recorded 1M runs therefore use ``--items 30``.

The scaling note multiplies measured, size-proportional figures by 10 for Zhejiang's ~10
million market entities; it is an extrapolation, not a measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ops.bench.common import progress
from processors.entities import links
from processors.entities.merge import pseudonym
from processors.entities.models import Entity, EntityItemLink
from processors.entities.store import dumps
from processors.items.models import Item, ItemVersion
from processors.officers.models import Officer
from schemas import codes, domains, regions

#: GB/T 4754-2017 classes that the enforcement domains map (each matches at least one domain).
INDUSTRIES: tuple[tuple[str, str], ...] = (
    ("H6210", "正餐服务"), ("H6220", "快餐服务"), ("H6110", "旅游饭店"), ("F5211", "百货零售"),
    ("F5221", "粮油零售"), ("F5251", "西药零售"), ("F5151", "西药批发"), ("F5121", "米、面制品及食用油批发"),
    ("F5132", "服装批发"), ("F5261", "汽车新车零售"), ("C1311", "稻谷加工"), ("C1431", "米、面制品制造"),
    ("C1512", "白酒制造"), ("C1810", "机织服装制造"), ("C1910", "皮革鞣制加工"), ("C2110", "木质家具制造"),
    ("C2211", "木竹浆制造"), ("C2511", "原油加工及石油制品制造"), ("C2611", "无机酸制造"),
    ("C2710", "化学药品原料药制造"), ("C2911", "轮胎制造"), ("C3011", "水泥制造"), ("C3110", "炼铁"),
    ("C3211", "铜冶炼"), ("C3411", "锅炉及辅助设备制造"), ("C3581", "医疗诊断、监护及治疗设备制造"),
    ("C3811", "发电机及发电机组制造"), ("C3911", "计算机整机制造"), ("D4411", "火力发电"),
    ("D4610", "自来水生产和供应"), ("B0610", "烟煤和无烟煤开采洗选"), ("E4710", "住宅房屋建筑"),
    ("E4811", "铁路工程建筑"), ("E5011", "公共建筑装饰和装修"), ("G5411", "公共电汽车客运"),
    ("G5431", "普通货物道路运输"), ("G5521", "内河旅客运输"), ("G5810", "多式联运"), ("G5951", "危险化学品仓储"),
    ("K7010", "房地产开发经营"), ("L7211", "企业总部管理"), ("M7450", "质检技术服务"), ("O8010", "家庭服务"),
    ("O8111", "汽车修理与维护"), ("P8321", "普通小学教育"), ("Q8411", "综合医院"),
)
KINDS = (("enterprise", 35), ("individual_business", 64), ("natural_person", 1))
RISK = (("A", "低风险", 40), ("B", "一般风险", 40), ("C", "较高风险", 15), ("D", "高风险", 5))
LEVEL_NAMES = {"province": "省级", "city": "市级", "county": "县级"}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国志红文斌海燕鹏辉浩宇晨欣怡子涵雨婷"
TRADE = "恒信达隆鑫盛华泰源通宏瑞丰祥和嘉越兴顺安康美佳永昌利德福海天元锦程"
SOURCE = "market_regulation"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


# -- data --------------------------------------------------------------------------------------
def zhejiang_counties() -> list[str]:
    return [c for city in regions.cities() for c in regions.counties(city)]


def item_rows(n_items: int, rng: random.Random, now: datetime) -> tuple[list[dict], list[dict]]:
    """(``items`` rows, ``item_versions`` rows) of ``n_items`` items spread over every domain."""
    codes_list, items, versions = list(domains.DOMAINS), [], []
    city_codes = regions.cities()
    for n in range(n_items):
        domain = domains.DOMAINS[codes_list[n % len(codes_list)]]
        di, seq = n % len(codes_list) + 1, n // len(codes_list) + 1
        item_type = "01" if n % 10 < 8 else ("02" if n % 10 == 8 else "03")
        code = f"{di:02d}{item_type}{seq:04d}{rng.randrange(10**6):06d}"
        chosen = rng.sample(city_codes, rng.randrange(1, 4))
        impl_regions = [("province", "330000"), *(("city", c) for c in chosen),
                        *(("county", rng.choice(regions.counties(c))) for c in chosen)]
        impls = []
        for level, region in impl_regions:
            dept = domains.department_code(domain, region)
            uscc = department_uscc(dept)
            impls.append({"implementation_code": f"{uscc}{rng.randrange(1, 6)}", "agency_uscc": uscc,
                          "agency": {"code": dept, "name": domains.department_name(domain, region), "code_system": None},
                          "admin_level": {"code": level, "name": LEVEL_NAMES[level], "code_system": None},
                          "region_code": region})
        contents = [{"content_code": f"{k + 1:03d}", "content": f"{domain.name.split(' / ')[0]}检查内容{k + 1}",
                     "legal_basis": None, "method": {"code": "01", "name": "现场检查", "code_system": None}}
                    for k in range(rng.randrange(3, 9))]
        valid_from = date(2024, 1, 1) + timedelta(days=rng.randrange(365))
        industry_codes = json.dumps(list(domain.industry_prefixes))
        name = f"对{domain.name.split(' / ')[0]}事项{seq}的{'行政检查' if item_type == '01' else '行政处罚'}"
        items.append({"catalog_code": code, "current_version": "1", "name": name, "domain_code": domain.code,
                      "industry_codes": industry_codes, "implementations": dumps(impls), "active": "y",
                      "valid_from": valid_from, "valid_to": None, "updated_at": now})
        versions.append({"catalog_code": code, "version": "1", "valid_from": valid_from, "valid_to": None, "name": name,
                         "national_code": f"{code[:8]}000000", "provincial_code": f"33{code[2:]}",
                         "power_list_code": None, "domain_code": domain.code, "domain_name": domain.name,
                         "item_type_code": item_type, "legal_basis": None, "implementations": dumps(impls),
                         "check_contents": dumps(contents), "industry_codes": industry_codes, "recorded_at": now,
                         "source_version": "1", "operation": "i", "record": None})
    return items, versions


def department_uscc(dept_code: str) -> str:
    body = "".join(c for c in dept_code.upper() if c in USCC_ALPHABET)[-6:].rjust(6, "0")
    return codes.make_uscc(dept_code[:6], "11" + body, "1", "1")


def _base31(i: int, width: int) -> str:
    out = []
    for _ in range(width):
        i, r = divmod(i, 31)
        out.append(USCC_ALPHABET[r])
    return "".join(reversed(out))


@dataclass
class Population:
    """How the N entities are laid out; :meth:`identity` is a pure function of the entity index."""

    n: int
    counties: list[str] = field(default_factory=zhejiang_counties)

    def county_of(self, i: int) -> str:
        # Contiguous blocks per county: ids come out in key order, which keeps B-tree inserts local.
        return self.counties[i * len(self.counties) // self.n]

    def identity(self, i: int) -> tuple[str, str, str | None, str | None, str, str]:
        """(kind, entity_id, uscc, resident_id, region_code, industry_code) of entity ``i``."""
        region = self.county_of(i)
        h = (i * 2654435761) % 100
        kind = "enterprise" if h < 35 else ("individual_business" if h < 99 else "natural_person")
        industry = INDUSTRIES[(i * 40503) % len(INDUSTRIES)][0]
        if kind == "natural_person":
            rid = codes.make_resident_id(region, date(1950, 1, 1) + timedelta(days=i // 997 % 20000), i % 997 + 1)
            return kind, pseudonym(rid), None, rid, region, industry
        uscc = codes.make_uscc(region, "MA" + _base31(i, 6), "9", "1" if kind == "enterprise" else "2")
        return kind, uscc, uscc, None, region, industry


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randrange(1, 3)))


def entity_row(pop: Population, i: int, rng: random.Random, now: datetime) -> dict[str, Any]:
    kind, eid, uscc, rid, region, industry = pop.identity(i)
    industry_name = dict(INDUSTRIES)[industry]
    county = regions.region_name(region) or region
    trade = "".join(rng.choice(TRADE) for _ in range(2))
    person = person_name(rng)
    name = {"enterprise": f"浙江{trade}{industry_name[:4]}有限公司", "individual_business": f"{county}{trade}{industry_name[:2]}店",
            "natural_person": person}[kind]
    risk = rng.choices(RISK, weights=[r[2] for r in RISK])[0]
    registered = date(2000, 1, 1) + timedelta(days=rng.randrange(9000))
    lon, lat = round(118 + rng.random() * 4.5, 6), round(27 + rng.random() * 4, 6)
    premises = f"浙江省{county}{trade}路{rng.randrange(1, 999)}号"
    scope = f"{industry_name}；{rng.choice(INDUSTRIES)[1]}（依法须经批准的项目，经相关部门批准后方可开展经营活动）"
    record = {
        "entity_id": eid, "kind": kind, "uscc": uscc, "resident_id": rid, "registration_number": None, "name": name,
        "type": {"code": {"enterprise": "1100", "individual_business": "9600", "natural_person": "9900"}[kind],
                 "name": kind, "code_system": None},
        "industry": {"code": industry, "name": industry_name, "code_system": "GB/T 4754-2017"},
        "region_code": region, "status": {"code": "1", "name": "存续", "code_system": None},
        "legal_representative": person if kind == "enterprise" else None,
        "operator_name": person if kind == "individual_business" else None, "premises": premises,
        "home_address": None, "business_scope": scope, "organisational_form": None,
        "registration_authority": {"code": f"{region}SCJ", "name": f"{county}市场监督管理局", "code_system": None},
        "registration_date": registered.isoformat(), "approval_date": registered.isoformat(), "revocation_date": None,
        "revocation_reason": None, "longitude": lon, "latitude": lat,
        "risk_grade": {"code": risk[0], "name": risk[1], "code_system": None},
        "liaison_name": None, "liaison_id_number": None, "liaison_mobile": None,
    }
    return {
        "entity_id": eid, "kind": kind, "uscc": uscc, "resident_id": rid, "registration_number": None, "name": name,
        "industry_code": industry, "industry_name": industry_name, "region_code": region, "status_code": "1",
        "status_name": "存续", "risk_grade_code": risk[0], "legal_representative": record["legal_representative"],
        "operator_name": record["operator_name"], "premises": premises, "business_scope": scope,
        "registration_date": registered, "revocation_date": None, "longitude": lon, "latitude": lat,
        "sources": SOURCE, "field_sources": dumps({k: SOURCE for k in record if record[k] is not None}),
        "revision": 1, "updated_at": now, "record": dumps(record),
    }


def officer_rows(n: int, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """``n`` officers with valid certificates, spread over every domain department of every Zhejiang region."""
    places = ["330000", *regions.cities(), *zhejiang_counties()]
    domain_list = list(domains.DOMAINS.values())
    rows = []
    for k in range(n):
        region = places[k % len(places)]
        domain = domain_list[(k // len(places)) % len(domain_list)]
        same = [d.code for d in domain_list if d.department_suffix == domain.department_suffix and d is not domain]
        held = [domain.code, *rng.sample(same, min(len(same), rng.randrange(0, 3)))]
        issued = date(2022, 1, 1) + timedelta(days=rng.randrange(1000))
        rows.append({
            "certificate_number": f"ZJ{region}{k:08d}", "name": person_name(rng), "resident_id": None, "phone": None,
            "sex_code": rng.choice("12"), "department_code": domains.department_code(domain, region),
            "department_name": domains.department_name(domain, region),
            "department_uscc": department_uscc(domains.department_code(domain, region)),
            "region_code": region, "domains": json.dumps(held), "issuing_authority": "浙江省人民政府",
            "valid_from": issued, "valid_to": issued + timedelta(days=5 * 365 + 1000), "recorded_status": "valid",
            "status": "valid", "is_supervisor": False, "source_version": "1", "event_time": now, "updated_at": now,
            "source_system": "officer_certs", "revision": 1, "payload": None,
        })
    return rows


# -- load --------------------------------------------------------------------------------------
def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    if rows:
        conn.execute(sa.insert(table), rows)


def populate(engine: sa.Engine, n_entities: int, n_items: int = 200, n_officers: int = 20_000,
             chunk: int = 20_000, seed: int = 20260101, quiet: bool = False) -> dict[str, Any]:
    """Fill an empty registry schema; returns counts and seconds per part (see the module docstring)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    items, versions = item_rows(n_items, rng, now)
    officers = officer_rows(n_officers, rng, now)
    with engine.begin() as conn:
        _insert(conn, Item.__table__, items)
        _insert(conn, ItemVersion.__table__, versions)
        for i in range(0, len(officers), chunk):
            _insert(conn, Officer.__table__, officers[i:i + chunk])
    out["items"], out["officers"] = len(items), len(officers)
    out["items_officers_s"] = round(time.perf_counter() - t0, 2)
    index = links.ItemIndex(s for s in (links.item_scope(r["catalog_code"], r["domain_code"], r["industry_codes"],
                                                          r["implementations"]) for r in items) if s)
    pop = Population(n_entities)
    t1 = time.perf_counter()
    n_links = 0
    gen_s = 0.0
    for start in range(0, n_entities, chunk):
        g0 = time.perf_counter()
        rows = [entity_row(pop, i, rng, now) for i in range(start, min(start + chunk, n_entities))]
        link_rows = [{**link, "updated_at": now} for r in rows
                     for link in links.derive(r["entity_id"], r["industry_code"], r["region_code"], index).values()]
        gen_s += time.perf_counter() - g0
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # indexes outgrow the default 2 MB page cache early
                conn.exec_driver_sql("PRAGMA cache_size=-512000")
            _insert(conn, Entity.__table__, rows)
            for j in range(0, len(link_rows), chunk * 4):
                _insert(conn, EntityItemLink.__table__, link_rows[j:j + chunk * 4])
        n_links += len(link_rows)
        done = start + len(rows)
        if not quiet:
            elapsed = time.perf_counter() - t1
            progress(f"{done:,}/{n_entities:,} entities, {n_links:,} links, {elapsed:,.0f} s "
                     f"({done / elapsed:,.0f} entities/s), RSS {rss_mb():,.0f} MB")
    out["entities"], out["links"] = n_entities, n_links
    out["entities_links_s"] = round(time.perf_counter() - t1, 2)
    out["generate_s"] = round(gen_s, 2)
    t2 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("analyze"))  # fresh statistics, as a long-running registry would have
    out["analyze_s"] = round(time.perf_counter() - t2, 2)
    out["load_s"] = round(time.perf_counter() - t0, 2)
    out["catalog_codes"] = sorted(r["catalog_code"] for r in items)
    return out


def populate_url(url: str, *args, **kwargs) -> dict[str, Any]:
    """:func:`populate` on a fresh engine for ``url`` plus the loader's peak RSS (run in a child process)."""
    from hub_api.db import Database

    db = Database(url)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # progress never mixes with --json output
            out = populate(db.engine, *args, **kwargs)
    finally:
        db.dispose()
    out["loader_peak_rss_mb"] = round(peak_rss_mb())
    return out


# -- measurements ------------------------------------------------------------------------------
def rss_mb() -> float:
    """Current resident set size of this process (VmRSS), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssPeaks:
    """Samples this process's RSS every ``interval`` s on a daemon thread; the maximum per named phase."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peaks: dict[str, int] = {}
        self._phase: str | None = None
        self._max = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            value = rss_mb()
            with self._lock:
                self._max = max(self._max, value)

    def phase(self, name: str | None) -> None:
        """Close the current phase (recording its peak) and start ``name`` (None: just close)."""
        value = rss_mb()
        with self._lock:
            if self._phase is not None:
                self.peaks[self._phase] = round(max(self._max, value))
            self._phase, self._max = name, value

    def close(self) -> dict[str, int]:
        self.phase(None)
        self._stop.set()
        self._thread.join(1)
        return self.peaks


def latency_stats(samples: list[float]) -> dict[str, float]:
    """p50 / p99 / mean / max in ms and requests/s of sequential request durations (seconds)."""
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1)] * 1000

    return {"n": len(ordered), "p50_ms": round(pct(0.50), 2), "p99_ms": round(pct(0.99), 2),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2),
            "per_s": round(len(ordered) / sum(ordered), 1)}


@contextlib.contextmanager
def api(db, scopes: tuple[str, ...] = ("sampling:write",)) -> Iterator[tuple[str, dict[str, str]]]:
    """The real API on ``db`` in a thread; yields (base URL, auth headers of a client with ``scopes``).

    Without ``pii:read`` personal names come back masked, as for most callers; with it every
    response that shows one writes a ``pii_access_log`` row (one per drawn object in a draw).
    """
    import httpx

    from hub_api.auth.service import AuthService
    from hub_api.main import create_app
    from ops.settings import HubSettings
    from ops.threaded_server import ThreadedServer

    settings = HubSettings(database_url=db.url, environment="test", log_level="WARNING")
    cid, secret = AuthService(db, settings).create_client("scale-bench", "service", list(scopes))
    with ThreadedServer(create_app(settings, db)) as server:
        token = httpx.post(f"{server.url}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(cid, secret), timeout=30).json()["access_token"]
        yield server.url, {"Authorization": f"Bearer {token}"}


def who_supervises(client, pop: Population, queries: int, rng: random.Random) -> dict[str, Any]:
    """``queries`` sequential "who supervises me" requests for random entities."""
    durations, items, links_seen = [], 0, 0
    for _ in range(queries):
        eid = pop.identity(rng.randrange(pop.n))[1]
        t = time.perf_counter()
        r = client.get(f"/registries/entities/{eid}/supervisors")
        durations.append(time.perf_counter() - t)
        r.raise_for_status()
        body = r.json()
        items += len(body["items"])
        links_seen += sum(len(i["departments"]) for i in body["items"])
    return {**latency_stats(durations), "items_per_entity": round(items / queries, 1),
            "links_per_entity": round(links_seen / queries, 1)}


def whom_supervise(client, queries: int, rng: random.Random) -> dict[str, Any]:
    """First pages of "whom do I supervise" for random county departments (any domain)."""
    counties, domain_list = zhejiang_counties(), list(domains.DOMAINS.values())
    durations, totals = [], []
    for _ in range(queries):
        dept = domains.department_code(rng.choice(domain_list), rng.choice(counties))
        t = time.perf_counter()
        r = client.get(f"/registries/departments/{dept}/entities", params={"size": 50})
        durations.append(time.perf_counter() - t)
        r.raise_for_status()
        totals.append(r.json()["total"])
    return {**latency_stats(durations), "mean_total": round(statistics.fmean(totals))}


def draw(client, catalog_codes: list[str], ratio: str = "0.05", verify: bool = True,
         peaks: RssPeaks | None = None) -> dict[str, Any]:
    """Create a province-wide plan over every item, draw it and (optionally) verify it; seconds per step."""
    body = {"name": "规模基准抽查计划", "year": 2026, "region_code": "330000", "department_code": "330000SCJ",
            "department_name": "浙江省市场监督管理局", "department_uscc": department_uscc("330000SCJ"),
            "catalog_codes": catalog_codes, "ratio": ratio, "inspectors_per_object": 2}
    t = time.perf_counter()
    r = client.post("/sampling/plans", json=body)
    r.raise_for_status()
    plan_id = r.json()["plan_id"]
    out: dict[str, Any] = {"plan_id": plan_id, "create_s": round(time.perf_counter() - t, 3)}
    rss0 = rss_mb()
    if peaks:
        peaks.phase("draw")
    t = time.perf_counter()
    r = client.post(f"/sampling/plans/{plan_id}/draw", timeout=3600)
    out["draw_s"] = round(time.perf_counter() - t, 2)
    out["draw_status"] = r.status_code
    r.raise_for_status()
    plan = r.json()
    out.update(object_pool=plan["object_pool_size"], inspector_pool=plan["inspector_pool_size"],
               drawn=len(plan["draw"]), response_mb=round(len(r.content) / 1e6, 1),
               rss_before_mb=round(rss0), rss_after_mb=round(rss_mb()))
    if verify:
        if peaks:
            peaks.phase("verify")
        t = time.perf_counter()
        r = client.get(f"/sampling/plans/{plan_id}/verify", timeout=3600)
        out["verify_s"] = round(time.perf_counter() - t, 2)
        out["verify_status"] = r.status_code
        out["verified"] = r.json().get("verified") if r.status_code == 200 else None
        out["rss_after_verify_mb"] = round(rss_mb())
    return out


def db_size_mb(engine: sa.Engine, sqlite_path: Path | None) -> float:
    """Size of the database: SQLite file + WAL, or every table (with indexes and TOAST) of the schema."""
    if sqlite_path is not None:
        files = [sqlite_path, sqlite_path.with_name(sqlite_path.name + "-wal")]
        return round(sum(f.stat().st_size for f in files if f.exists()) / 1e6, 1)
    with engine.connect() as conn:
        total = conn.execute(sa.text(
            "select coalesce(sum(pg_total_relation_size(c.oid)), 0) from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = current_schema() and c.relkind = 'r'"
        )).scalar_one()
    return round(float(total) / 1e6, 1)


def run(n_entities: int, database: str = "sqlite", pg_url: str | None = None, queries: int = 2000,
        page_queries: int = 50, n_items: int = 200, n_officers: int = 20_000, chunk: int = 20_000,
        verify: bool = True, workdir: Path | None = None, quiet: bool = False,
        pii_read: bool = False) -> dict[str, Any]:
    """The whole benchmark on a fresh database; returns every figure (see the module docstring)."""
    import httpx

    from hub_api.db import Database

    rng = random.Random(7)
    result: dict[str, Any] = {"database": database, "entities": n_entities, "items": n_items,
                              "officers": n_officers, "pii_read": pii_read, "cpus": os.cpu_count(),
                              "load_average_start": os.getloadavg()}
    rss: dict[str, Any] = {"start": round(rss_mb())}
    peaks = RssPeaks()
    peaks.phase("load")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=workdir)))
        sqlite_path = None
        if database == "sqlite":
            sqlite_path = tmp / "scale.db"
            url = f"sqlite:///{sqlite_path}"
        else:
            from ops.bench.registry_bench import pg_schema_url

            url, drop = pg_schema_url(pg_url or "postgresql://127.0.0.1:5432/test")
            stack.callback(drop)
        db = Database(url)
        stack.callback(db.dispose)
        db.create_schema()
        if not quiet:
            progress(f"{database}: loading {n_entities:,} entities, {n_items} items, {n_officers:,} officers")
        # A child process loads, so this process's peak RSS is the API's and the benchmark's own.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            load = pool.submit(populate_url, url, n_entities, n_items, n_officers, chunk, quiet=quiet).result()
        catalog_codes = load.pop("catalog_codes")
        result["load"] = load
        result["db_size_mb"] = db_size_mb(db.engine, sqlite_path)
        rss["after_load"] = round(rss_mb())
        url_base, headers = stack.enter_context(
            api(db, ("sampling:write", "pii:read") if pii_read else ("sampling:write",)))
        client = stack.enter_context(httpx.Client(base_url=url_base, headers=headers, timeout=600))
        rss["api_started"] = round(rss_mb())
        if not quiet:
            progress(f"{database}: {queries:,} 'who supervises me' queries")
        pop = Population(n_entities)
        peaks.phase("queries")
        result["who_supervises"] = who_supervises(client, pop, queries, rng)
        if not quiet:
            progress(f"{database}: {page_queries} 'whom do I supervise' pages")
        result["whom_supervise"] = whom_supervise(client, page_queries, rng)
        rss["after_queries"] = round(rss_mb())
        if not quiet:
            progress(f"{database}: 5 % draw over the object pool")
        result["draw"] = draw(client, catalog_codes, verify=verify, peaks=peaks)
        rss["after_draw"] = round(rss_mb())
        result["db_size_after_draw_mb"] = db_size_mb(db.engine, sqlite_path)
    rss["peak_by_phase"] = peaks.close()
    rss["peak"] = round(peak_rss_mb())
    result["rss_mb"] = rss
    result["load_average_end"] = os.getloadavg()
    result["scaling_10m"] = scaling(result)
    return result


def scaling(r: dict[str, Any], factor: int = 10) -> dict[str, Any]:
    """Extrapolation to ``factor`` × the entities from this run's measurements (not a measurement).

    Load time, link rows, database size and the draw (one O(N) pass over the pool) scale
    linearly; a point query walks B-trees whose depth grows by log(factor)/log(fan-out),
    about one level for ×10, so "who supervises me" stays near its measured latency.
    """
    draw_ = r.get("draw", {})
    return {
        "factor": factor,
        "entities": r["entities"] * factor,
        "links": r["load"]["links"] * factor,
        "load_s": round(r["load"]["load_s"] * factor),
        "db_size_gb": round(r["db_size_mb"] * factor / 1000, 1),
        "draw_s": round(draw_.get("draw_s", 0) * factor),
        "verify_s": round(draw_["verify_s"] * factor) if "verify_s" in draw_ else None,
        "drawn": math.ceil(r["entities"] * factor * 0.05),
        "who_supervises_p50_ms": r["who_supervises"]["p50_ms"],
        "note": "extrapolated ×10 from the measured figures; B-tree point lookups gain about one level",
    }


def table(r: dict[str, Any]) -> str:
    ld, ws, wp, dr, rs, sc = (r["load"], r["who_supervises"], r["whom_supervise"], r["draw"], r["rss_mb"],
                              r["scaling_10m"])
    rows = [
        ("database", r["database"]),
        ("entities / links / items / officers", f"{r['entities']:,} / {ld['links']:,} / {ld['items']} / {ld['officers']:,}"),
        ("load (entities + links)", f"{ld['entities_links_s']:,} s ({r['entities'] / ld['entities_links_s']:,.0f} "
                                    f"entities/s, {ld['links'] / ld['entities_links_s']:,.0f} links/s); "
                                    f"of which generation + derivation {ld['generate_s']:,} s"),
        ("load total (incl. items, officers, analyze)", f"{ld['load_s']:,} s"),
        ("database size", f"{r['db_size_mb']:,} MB ({r['db_size_after_draw_mb']:,} MB after the draw)"),
        ("who supervises me", f"p50 {ws['p50_ms']} ms, p99 {ws['p99_ms']} ms, mean {ws['mean_ms']} ms, "
                              f"{ws['per_s']} req/s ({ws['n']:,} queries; {ws['items_per_entity']} items, "
                              f"{ws['links_per_entity']} links per entity)"),
        ("whom do I supervise (page 1)", f"p50 {wp['p50_ms']} ms, p99 {wp['p99_ms']} ms ({wp['n']} queries; "
                                         f"~{wp['mean_total']:,} entities per county department)"),
        ("5 % draw", f"{dr['draw_s']} s: {dr['drawn']:,} of {dr['object_pool']:,} objects, "
                     f"{dr['inspector_pool']:,} inspectors; response {dr['response_mb']} MB"),
        ("verify", f"{dr.get('verify_s')} s, verified={dr.get('verified')}"),
        ("RSS of the API process (MB)", f"peak {rs['peak']:,}; after load {rs['after_load']:,}, queries "
                                        f"{rs['after_queries']:,}, draw {rs['after_draw']:,}, verify "
                                        f"{dr.get('rss_after_verify_mb')}; loader process peak "
                                        f"{ld['loader_peak_rss_mb']:,}; sampled peak per phase "
                                        f"{rs['peak_by_phase']}"),
        ("load average start / end", f"{', '.join(f'{x:.2f}' for x in r['load_average_start'])} / "
                                     f"{', '.join(f'{x:.2f}' for x in r['load_average_end'])}"),
        (f"EXTRAPOLATED ×{sc['factor']} ({sc['entities']:,} entities)",
         f"load ~{sc['load_s']:,} s, {sc['links']:,} links, DB ~{sc['db_size_gb']} GB, draw ~{sc['draw_s']:,} s, "
         f"verify ~{sc['verify_s']} s, {sc['drawn']:,} drawn; who-supervises p50 ~{sc['who_supervises_p50_ms']} ms"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-url", default="postgresql://127.0.0.1:5432/test")
    ap.add_argument("--queries", type=int, default=2000, help="'who supervises me' requests")
    ap.add_argument("--page-queries", type=int, default=50, help="'whom do I supervise' requests")
    ap.add_argument("--items", type=int, default=200, help="supervision items (each links ~every entity of "
                                                           "its domain at up to 3 levels)")
    ap.add_argument("--officers", type=int, default=20_000)
    ap.add_argument("--chunk", type=int, default=20_000, help="rows per transaction")
    ap.add_argument("--no-verify", action="store_true", help="skip GET /sampling/plans/{id}/verify")
    ap.add_argument("--workdir", type=Path, default=None, help="directory for the SQLite file (default: temp)")
    ap.add_argument("--pii-read", action="store_true", help="query as a pii:read client (unmasked, audited)")
    ap.add_argument("--json", action="store_true", help="machine-readable result on stdout (progress on stderr)")
    args = ap.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = run(args.entities, args.database, args.pg_url, args.queries, args.page_queries, args.items,
                     args.officers, args.chunk, not args.no_verify, args.workdir, pii_read=args.pii_read)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
