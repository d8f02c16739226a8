"""The ground truth of the simulated supervised objects: a deterministic, seeded entity pool.

:class:`EntityPool` describes ``size`` entities -- enterprises, individual businesses
(个体工商户) and a few specific natural persons -- spread over the counties of all eleven
Zhejiang cities.  ``pool.entity(i)`` computes the ``i``-th one from ``(seed, i)`` alone (no
list of all entities is kept; a small LRU cache serves repeated look-ups), so any process
-- a simulator, a test, ``hub demo --check`` -- recomputes exactly the same entity.

Identity (DESIGN.md §5): enterprises and individual businesses carry a valid unified social
credit code built with :func:`schemas.codes.make_uscc` (position 1 ``9`` market regulation,
position 2 ``1`` enterprise / ``2`` individual business, characters 3-8 the county code, a
9-character organisation code unique per index); natural persons carry a valid resident ID
(:func:`schemas.codes.make_resident_id`) and no USCC.  ``entity_id`` is the USCC, else the
resident ID.

Industry: a GB/T 4754-2017 code from :data:`INDUSTRIES`; all but two of them are supervised
by at least one enforcement domain (:func:`schemas.domains.domains_for_industry`).

The same entity seen by other systems (penalty parties, complaint targets) is
:meth:`EntityPool.variant`: the same identifier with partly different data -- a shortened
name, a former address, no industry -- as real departments' records of one business differ.

Thread-safe: entities are pure functions of ``(seed, i)`` over vocabularies drawn once from
Faker ``zh_CN``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate

from faker import Faker

from schemas.codes import make_resident_id, make_uscc
from schemas.regions import cities, counties, region_name

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"

#: (GB/T 4754-2017 code, name, business-name word, weight for enterprises, weight for individual businesses)
INDUSTRIES: list[tuple[str, str, str, int, int]] = [
    ("H6210", "正餐服务", "餐饮", 6, 14), ("H6220", "快餐服务", "快餐", 4, 12),
    ("H6110", "旅游饭店", "酒店", 2, 0), ("F5211", "百货零售", "百货", 4, 8),
    ("F5221", "粮油零售", "粮油", 2, 8), ("F5222", "糕点、面包零售", "食品", 2, 6),
    ("F5121", "米、面制品及食用油批发", "粮油贸易", 3, 2), ("F5251", "西药零售", "大药房", 3, 4),
    ("F5151", "西药批发", "医药", 2, 0), ("C2710", "化学药品原料药制造", "药业", 2, 0),
    ("C2720", "化学药品制剂制造", "制药", 2, 0), ("C1411", "糕点、面包制造", "食品", 2, 2),
    ("C1512", "白酒制造", "酒业", 1, 0), ("C3441", "泵及真空设备制造", "泵业", 2, 0),
    ("C2614", "有机化学原料制造", "化工", 2, 0), ("C2211", "木竹浆制造", "纸业", 1, 0),
    ("C3011", "水泥制造", "建材", 1, 0), ("C2511", "原油加工及石油制品制造", "石化", 1, 0),
    ("D4411", "火力发电", "热电", 1, 0), ("B1011", "石灰石、石膏开采", "矿业", 1, 0),
    ("G5431", "普通货物道路运输", "物流", 4, 2), ("G5435", "危险货物道路运输", "危货运输", 1, 0),
    ("G5942", "危险化学品仓储", "仓储", 1, 0), ("E4710", "住宅房屋建筑", "建设", 4, 0),
    ("E5011", "公共建筑装饰和装修", "装饰", 3, 2), ("K7010", "房地产开发经营", "置业", 3, 0),
    ("Q8411", "综合医院", "医院", 1, 0), ("Q8421", "社区卫生服务中心（站）", "诊所", 1, 2),
    ("O8010", "家庭服务", "家政", 2, 4), ("O8111", "汽车修理与维护", "汽修", 2, 4),
    ("L7251", "互联网广告服务", "广告", 2, 0), ("M7452", "检测服务", "检测", 1, 0),
    ("C1811", "运动机织服装制造", "服饰", 2, 0), ("C1951", "纺织面料鞋制造", "鞋业", 2, 0),
    ("C2110", "木质家具制造", "家具", 2, 0), ("C3581", "医疗诊断、监护及治疗设备制造", "医疗器械", 1, 0),
    ("C3871", "电光源制造", "照明", 1, 0), ("I6513", "应用软件开发", "软件", 4, 0),
    ("R8810", "文艺创作与表演", "文化传媒", 1, 1),
]
SCOPES = {
    "H": "餐饮服务；食品销售", "F": "食品经营；日用百货销售；预包装食品销售", "C": "生产、加工、销售",
    "G": "道路货物运输（不含危险货物）；仓储服务", "E": "建设工程施工；住宅室内装饰装修",
    "K": "房地产开发经营；物业管理", "Q": "医疗服务", "O": "家政服务；机动车修理和维护",
    "L": "广告设计、代理、发布", "M": "检验检测服务", "I": "软件开发；信息技术咨询服务", "D": "发电业务；热力生产和供应",
    "B": "矿产资源开采", "R": "文艺创作；组织文化艺术交流活动",
}
ENTERPRISE_TYPES = [("1130", "有限责任公司（自然人投资或控股）", "有限公司"), ("1151", "有限责任公司（自然人独资）", "有限公司"),
                    ("1212", "股份有限公司（非上市）", "股份有限公司"), ("4540", "个人独资企业", "商行")]
INDIVIDUAL_TYPE = ("9600", "个体工商户")
ORG_FORMS = [("1", "个人经营"), ("2", "家庭经营")]
RISK_GRADES = [("A", "低风险"), ("B", "一般风险"), ("C", "较高风险"), ("D", "高风险")]
#: Relative weight of each city (GB/T 2260 code) in the pool: bigger cities hold more businesses.
CITY_WEIGHTS = {"330100": 18, "330200": 14, "330300": 13, "330400": 8, "330500": 6, "330600": 9,
                "330700": 11, "330800": 4, "330900": 3, "331000": 9, "331100": 5}
CITY_CENTRES = {"330100": (120.16, 30.27), "330200": (121.55, 29.87), "330300": (120.70, 28.00),
                "330400": (120.76, 30.75), "330500": (120.09, 30.89), "330600": (120.58, 30.03),
                "330700": (119.65, 29.08), "330800": (118.87, 28.94), "330900": (122.21, 29.99),
                "331000": (121.42, 28.66), "331100": (119.92, 28.47)}
DEMO_POOL_SIZE = 60_000
"""Entities of the demo's pool: the market-entity register holds them all (but the natural persons)."""
CITIES = cities()
assert set(CITY_WEIGHTS) == set(CITIES), "one weight per Zhejiang city"
COUNTIES = {c: counties(c) for c in CITIES}


@lru_cache(maxsize=1)
def _faker_words() -> dict[str, tuple[str, ...]]:
    """Name, company-prefix and street vocabularies drawn once from Faker ``zh_CN`` (fixed seed):
    choosing from them per entity is ~20x faster than re-seeding Faker for every entity."""
    fake = Faker("zh_CN")
    fake.seed_instance(4754)
    return {"names": tuple(dict.fromkeys(fake.name() for _ in range(6000))),
            "surnames": tuple(dict.fromkeys(fake.last_name() for _ in range(2000))),
            "prefixes": tuple(dict.fromkeys(p for p in (fake.company_prefix() for _ in range(3000)) if len(p) <= 4)),
            "streets": tuple(dict.fromkeys(fake.street_name() for _ in range(3000)))}


def place(county: str) -> str:
    """``浙江省杭州市西湖区`` for ``330106``: the head of every address in ``county``."""
    return f"浙江省{region_name(county[:4] + '00')}{region_name(county)}"


def short_city(code: str) -> str:
    """``杭州市`` -> ``杭州``."""
    name = region_name(code) or ""
    return name[:-1] if name.endswith("市") else name


@dataclass(frozen=True)
class PoolEntity:
    """One supervised object as its registration authority knows it (the pool's truth)."""

    index: int
    kind: str  # enterprise / individual_business / natural_person
    entity_id: str  # USCC, else resident ID
    uscc: str | None
    resident_id: str | None
    name: str
    short_name: str  # how other departments often write it
    industry_code: str | None
    industry_name: str | None
    region_code: str  # county
    premises: str
    former_premises: str  # an earlier address, as old records of other systems still carry it
    legal_representative: str | None
    operator_name: str | None
    type_code: str | None
    type_name: str | None
    organisational_form: tuple[str, str] | None
    business_scope: str | None
    registration_date: date | None
    registration_authority: tuple[str, str] | None  # (department code, name)
    longitude: float
    latitude: float
    risk_grade: tuple[str, str]
    liaison_name: str | None
    liaison_mobile: str | None

    @property
    def city_code(self) -> str:
        return self.region_code[:4] + "00"


class EntityPool:
    """``size`` deterministic entities for ``seed`` (see the module docstring).

    ``person_share`` of the indexes are natural persons, ``individual_share`` individual
    businesses, the rest enterprises; the kind of index ``i`` depends only on ``(seed, i)``.
    """

    def __init__(self, seed: int = 1, size: int = 50_000, *, person_share: float = 0.05,
                 individual_share: float = 0.3):
        if size < 1:
            raise ValueError("an entity pool needs at least one entity")
        self.seed, self.size = seed, size
        self.person_share, self.individual_share = person_share, individual_share
        self._words = _faker_words()
        self._cached = lru_cache(maxsize=8192)(self._build)
        self._ent_weights = list(accumulate(w[3] for w in INDUSTRIES))
        self._ind = [w for w in INDUSTRIES if w[4]]
        self._ind_weights = list(accumulate(w[4] for w in self._ind))
        self._city_weights = list(accumulate(CITY_WEIGHTS[c] for c in CITIES))

    def __len__(self) -> int:
        return self.size

    def entity(self, i: int) -> PoolEntity:
        """The ``i``-th entity (``0 <= i < size``)."""
        if not 0 <= i < self.size:
            raise IndexError(f"entity index {i} outside the pool (size {self.size})")
        return self._cached(i)

    def __iter__(self):
        return (self.entity(i) for i in range(self.size))

    def pick(self, rng: random.Random, kind: str | None = None) -> PoolEntity:
        """A random entity (of ``kind`` if given; tries a bounded number of draws, then any)."""
        for _ in range(64):
            e = self.entity(rng.randrange(self.size))
            if kind is None or e.kind == kind:
                return e
        return e

    def variant(self, e: PoolEntity, rng: random.Random) -> dict:
        """How another department records ``e``: same identifier, partly different data.

        Returns ``{"name", "address", "industry_code", "legal_representative"}``: the name is
        the short name in about a third of the cases, the address the former one in about a
        third, the industry missing in half.
        """
        return {"name": e.short_name if rng.random() < 0.35 else e.name,
                "address": e.former_premises if rng.random() < 0.35 else e.premises,
                "industry_code": None if rng.random() < 0.5 else e.industry_code,
                "legal_representative": e.legal_representative or e.operator_name}

    # -- construction ---------------------------------------------------------------------

    def _build(self, i: int) -> PoolEntity:
        rng = random.Random(f"entity-pool:{self.seed}:{i}")
        roll = rng.random()
        kind = ("natural_person" if roll < self.person_share else
                "individual_business" if roll < self.person_share + self.individual_share else "enterprise")
        city = rng.choices(CITIES, cum_weights=self._city_weights)[0]
        county = rng.choice(COUNTIES[city])
        w = self._words
        person_name, rep_name, liaison = (rng.choice(w["names"]) for _ in range(3))
        prefix, surname = rng.choice(w["prefixes"]), rng.choice(w["surnames"])
        street, old_street = rng.choice(w["streets"]), rng.choice(w["streets"])
        head = place(county)
        premises = f"{head}{street}{rng.randrange(1, 999)}号"
        former = f"{head}{old_street}{rng.randrange(1, 999)}号"
        lon0, lat0 = CITY_CENTRES[city]
        lon, lat = round(lon0 + rng.uniform(-0.25, 0.25), 6), round(lat0 + rng.uniform(-0.2, 0.2), 6)
        risk = rng.choices(RISK_GRADES, weights=(50, 30, 15, 5))[0]
        mobile = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        registered = date(2000, 1, 1) + timedelta(days=rng.randrange(0, 9000))
        authority = (f"{county}SCJ", f"{region_name(county)}市场监督管理局")
        if kind == "natural_person":
            born = date(1950, 1, 1) + timedelta(days=(i // 997) % 20000)
            rid = make_resident_id(county, born, i % 997 + 1)
            return PoolEntity(i, kind, rid, None, rid, person_name, person_name, None, None, county, premises,
                              former, None, None, None, None, None, None, None, None, lon, lat, risk, None, None)
        # A bijection of i onto 8 base-31 characters keeps every organisation code unique.
        n = (i * 387_420_489 + self.seed * 7_777_777) % 31**8
        body = "".join(USCC_CHARS[(n // 31**k) % 31] for k in range(7, -1, -1))
        industry = (rng.choices(INDUSTRIES, cum_weights=self._ent_weights)[0] if kind == "enterprise"
                    else rng.choices(self._ind, cum_weights=self._ind_weights)[0])
        code, iname, word = industry[0], industry[1], industry[2]
        scope = SCOPES.get(code[0])
        if kind == "enterprise":
            tcode, tname, suffix = rng.choice(ENTERPRISE_TYPES)
            uscc = make_uscc(county, body, "9", "1")
            name = f"{short_city(city)}{prefix}{word}{suffix}"
            return PoolEntity(i, kind, uscc, uscc, None, name, f"{prefix}{word}", code, iname, county, premises,
                              former, rep_name, None, tcode, tname, None, scope, registered, authority,
                              lon, lat, risk, liaison, mobile)
        uscc = make_uscc(county, body, "9", "2")
        shop = rng.choice(["店", "商行", "经营部", "小吃店", "便利店", "工作室"])
        name = f"{region_name(county)}{surname}记{word}{shop}"
        return PoolEntity(i, kind, uscc, uscc, None, name, f"{surname}记{word}{shop}", code, iname, county, premises,
                          former, None, person_name, INDIVIDUAL_TYPE[0], INDIVIDUAL_TYPE[1],
                          rng.choices(ORG_FORMS, weights=(8, 2))[0], scope, registered, authority, lon, lat, risk,
                          person_name, mobile)


@lru_cache(maxsize=8)
def shared_pool(seed: int, size: int = DEMO_POOL_SIZE) -> EntityPool:
    """One pool per ``(seed, size)`` per process, shared by every simulator that names parties.

    Entity ``i`` depends only on ``(seed, i)``, so pools of different sizes agree on their
    common prefix: a small test register is the head of the demo's.
    """
    return EntityPool(seed, size)
