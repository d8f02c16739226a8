"""Market-entity registration system (市场主体登记系统): HTTP JSON pull, cursor paging, bearer token.

The register of enterprises and individual businesses (个体工商户) of the
:class:`~ops.simulators.entity_pool.EntityPool`.  Every pool entity but the natural persons
is first *registered* (设立登记, version 1), in pool order, until ``registrations`` entities
are registered (default: all of them); after that the system emits *changes* (变更登记:
premises, business scope, legal representative) and *deregistrations*: 吊销 (licence
revoked: status ``2``, revocation date and reason, operation ``U``) or 注销 (cancelled:
status ``3``, operation ``D``), each a new full snapshot with the next version.

Wire shape::

    GET /api/v2/entities/changes?cursor=<n>&limit=<1..1000, default 200>
    Authorization: Bearer <token>         (401 + WWW-Authenticate: Bearer without it)
    -> 200 {"code": 0, "total": T, "nextCursor": "<n'>", "data": [...]}
    -> 400 {"detail": "invalid cursor"}

``cursor`` is the number of rows already read (omit it to start); ``nextCursor`` is always
present; an empty ``data`` means nothing new yet.  Rows are appended, never rewritten.

Row fields (the SAIC register's names): ``PRIPID`` internal entity id (source key),
``BBH`` version, ``CZLX`` ``I``/``U``/``D``, ``BGLX`` change kind (:data:`CHANGE_KINDS`) +
``BGLX_CN``, ``BGSJ`` change time ``yyyy-MM-dd HH:mm:ss`` (CST), ``UNISCID`` USCC, ``ENTNAME``,
``ZTLB`` ``企业``/``个体工商户``, ``ENTTYPE``/``ENTTYPE_CN``, ``HYDM``/``HYMC`` GB/T 4754
industry, ``DOM`` premises, ``OPSCOPE``, ``LEREP`` legal representative (enterprises),
``OPERNAME`` operator and ``COMPFORM`` ``1`` individual / ``2`` family (individual
businesses), ``DJJG``/``DJJG_CN`` registration authority, ``ESTDATE``, ``APPRDATE``,
``REVDATE`` (``yyyy-MM-dd``), ``REVREASON``, ``REGSTATE``/``REGSTATE_CN`` (``1`` 存续,
``2`` 吊销, ``3`` 注销), ``XZQH`` county, ``JD``/``WD`` longitude/latitude, ``FXDJ`` risk grade
``A``-``D``, ``LLY_XM``/``LLY_SJ`` liaison name and mobile.

Defects (:data:`MarketEntityGenerator.REASONS`): ``bad_uscc_check`` (``uscc_check``),
``unknown_region`` (``region_unknown``), ``missing_required`` (no ``ENTNAME``: ``schema``),
``date_order`` (revocation before establishment: ``date_order``), ``fullwidth_digits``
(USCC typed in full-width characters: repaired and accepted); plus re-sends.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from fastapi import FastAPI, Header, Query, Response

from ops.simulators.base import HttpSimulator, Simulator, cli, fmt, sim_options
from ops.simulators.cases import UNKNOWN_REGIONS, SimEvent, to_fullwidth
from ops.simulators.entity_pool import SCOPES, USCC_CHARS, EntityPool, PoolEntity, place
from ops.simulators.master import MasterStream
from ops.simulators.paging import cursor_window, require_bearer

DT, D = "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"
CHANGE_KINDS = {"register": "设立登记", "premises": "住所变更", "scope": "经营范围变更",
                "representative": "法定代表人变更", "revoke": "吊销营业执照", "cancel": "注销登记"}
STATUS = {"1": "存续", "2": "吊销", "3": "注销"}
REVOKE_REASONS = ["连续六个月未开展经营活动", "未按规定报送年度报告且逾期未改正", "以欺骗手段取得登记"]
EXTRA_SCOPE = ["技术服务", "货物进出口", "会议及展览服务", "食品互联网销售", "第二类医疗器械销售"]


class MarketEntityGenerator(MasterStream):
    """Registrations, then changes and deregistrations of the pool's registered entities."""

    REASONS = {"bad_uscc_check": "uscc_check", "unknown_region": "region_unknown", "missing_required": "schema",
               "date_order": "date_order", "fullwidth_digits": None}
    DEFAULT_DEFECTS = tuple(REASONS)
    salt = "market-entities"

    def __init__(self, seed: int, bad_ratio: float = 0.05, duplicate_ratio: float = 0.02,
                 out_of_order_ratio: float = 0.02, *, pool: EntityPool | None = None, pool_size: int = 1000,
                 registrations: int | None = None, deregister_ratio: float = 0.08, **kw):
        super().__init__(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, **kw)
        self.pool = pool or EntityPool(seed, pool_size)
        self.registrations = min(self.pool.size, self.pool.size if registrations is None else registrations)
        self.deregister_ratio = deregister_ratio
        self._next = 0  # next pool index to consider for registration
        self.registered: list[int] = []  # pool indexes, registration order
        self.state: dict[int, dict] = {}  # changed fields per pool index (only entities that changed)
        self.closed: set[int] = set()
        self._clock = datetime.combine(self.anchor - timedelta(days=90), datetime.min.time())

    @staticmethod
    def pripid(e: PoolEntity) -> str:
        """The register's internal id of ``e`` (county + 10-digit pool index): the source key."""
        return f"{e.region_code}{e.index:010d}"

    def snapshot(self, e: PoolEntity) -> dict:
        """The register's current row of ``e`` (dialect-free names)."""
        f = {"pripid": self.pripid(e), "uscc": e.uscc, "name": e.name, "kind": e.kind,
             "type_code": e.type_code, "type_name": e.type_name, "industry_code": e.industry_code,
             "industry_name": e.industry_name, "premises": e.premises, "scope": e.business_scope,
             "legal_rep": e.legal_representative, "operator": e.operator_name,
             "org_form": e.organisational_form[0] if e.organisational_form else None,
             "authority_code": e.registration_authority[0], "authority_name": e.registration_authority[1],
             "established": e.registration_date, "approved": e.registration_date, "revoked_on": None,
             "revoke_reason": None, "status": "1", "region_code": e.region_code, "lon": e.longitude,
             "lat": e.latitude, "risk_grade": e.risk_grade[0], "liaison_name": e.liaison_name,
             "liaison_mobile": e.liaison_mobile}
        f.update(self.state.get(e.index, {}))
        return f

    def _tick(self, floor: date) -> datetime:
        self._clock = max(self._clock + timedelta(minutes=self.rng.randrange(3, 40)),
                          datetime.combine(floor + timedelta(days=1), datetime.min.time()))
        return self._clock.replace(hour=max(8, min(self._clock.hour, 18)))

    def _fresh_event(self) -> SimEvent:
        rng = self.rng
        while self._next < self.registrations:
            e = self.pool.entity(self._next)
            self._next += 1
            if e.kind == "natural_person":  # not a market entity: only penalty / complaint data name them
                continue
            self.registered.append(e.index)
            f = self.snapshot(e)
            return self.event(f["pripid"], "register", dict(f, changed_at=self.at(e.registration_date)))
        open_ = [i for i in (rng.choice(self.registered) for _ in range(8)) if i not in self.closed]
        if not open_:  # (almost) everything deregistered: register nothing new, change a closed one's scope
            open_ = [rng.choice(self.registered)]
        e = self.pool.entity(open_[0])
        before = self.snapshot(e)
        when = self._tick(before["established"])
        roll = rng.random()
        changes: dict = {}
        op = None
        if roll < self.deregister_ratio and e.index not in self.closed:
            stage = rng.choice(["revoke", "cancel"])
            changes = {"status": "2" if stage == "revoke" else "3", "revoked_on": when.date(),
                       "revoke_reason": rng.choice(REVOKE_REASONS) if stage == "revoke" else "决议解散"}
            op = "d" if stage == "cancel" else None
            self.closed.add(e.index)
        elif roll < 0.45 or e.kind == "individual_business":
            stage = rng.choice(["premises", "scope"])
            if stage == "premises":
                changes = {"premises": f"{place(e.region_code)}{self.fake.street_name()}{rng.randrange(1, 999)}号"}
            else:
                base = SCOPES.get((e.industry_code or "I")[0], "")
                changes = {"scope": f"{base}；{rng.choice(EXTRA_SCOPE)}"}
        else:
            stage, changes = "representative", {"legal_rep": self.fake.name()}
        self.state.setdefault(e.index, {}).update(changes)
        return self.event(before["pripid"], stage, dict(before, **changes, changed_at=when), operation=op)

    def applicable(self, kind: str, ev: SimEvent) -> bool:
        return kind != "date_order" or ev.fields["revoked_on"] is not None

    def apply_defect(self, ev: SimEvent, kind: str) -> None:
        f = ev.fields
        if kind == "bad_uscc_check":
            f["uscc"] = self.wrong_check(f["uscc"], USCC_CHARS)
        elif kind == "unknown_region":
            f["region_code"] = self.rng.choice(UNKNOWN_REGIONS)
        elif kind == "missing_required":
            f["name"] = None
        elif kind == "date_order":
            f["revoked_on"] = f["established"] - timedelta(days=self.rng.randrange(1, 400))
        elif kind == "fullwidth_digits":
            f["uscc"] = to_fullwidth(f["uscc"])


def render(ev: SimEvent) -> dict:
    """One register row in the system's dialect."""
    f = ev.fields
    enterprise = f["kind"] == "enterprise"
    return {
        "PRIPID": f["pripid"], "BBH": ev.version, "CZLX": ev.operation.upper(), "BGLX": ev.stage,
        "BGLX_CN": CHANGE_KINDS[ev.stage], "BGSJ": fmt(f["changed_at"], DT), "UNISCID": f["uscc"],
        "ENTNAME": f["name"], "ZTLB": "企业" if enterprise else "个体工商户", "ENTTYPE": f["type_code"],
        "ENTTYPE_CN": f["type_name"], "HYDM": f["industry_code"], "HYMC": f["industry_name"],
        "DOM": f["premises"], "OPSCOPE": f["scope"], "LEREP": f["legal_rep"], "OPERNAME": f["operator"],
        "COMPFORM": f["org_form"], "DJJG": f["authority_code"], "DJJG_CN": f["authority_name"],
        "ESTDATE": fmt(f["established"], D), "APPRDATE": fmt(f["approved"], D), "REVDATE": fmt(f["revoked_on"], D),
        "REVREASON": f["revoke_reason"], "REGSTATE": f["status"], "REGSTATE_CN": STATUS[f["status"]],
        "XZQH": f["region_code"], "JD": f["lon"], "WD": f["lat"], "FXDJ": f["risk_grade"],
        "LLY_XM": f["liaison_name"], "LLY_SJ": f["liaison_mobile"],
    }


class MarketEntitySimulator(HttpSimulator):
    """The register as a loopback HTTP server (see the module docstring).

    At construction the register holds its *initial load* -- the registration of every pool
    entity (natural persons excepted; with re-sends and defects) -- and then ``count`` more
    events (changes, deregistrations).  Rows are kept as their JSON text: the demo's register
    holds tens of thousands of them.  Generator keywords: ``pool`` or ``pool_size``,
    ``registrations``, ``deregister_ratio``.
    """

    system = "market_entities"
    department_code = "330000SCJ"

    def __init__(self, *args, token: str = "scjg-reg-token", port: int | None = None, **kw):
        self.token = token
        Simulator.__init__(self, *args, **kw)  # HttpSimulator's set-up, with the initial load first
        self.rows: list[str] = []
        self.port, self._server, self.url = port, None, None
        self.load()
        self.emit(self.initial_count)

    def load(self, chunk: int = 5000) -> None:
        """Emit until every pool entity up to ``registrations`` had its registration."""
        gen = self.generator
        while gen._next < gen.registrations:
            self.emit(min(chunk, gen.registrations - gen._next))

    def make_generator(self, seed, bad_ratio, duplicate_ratio, out_of_order_ratio, *, defects=None, **kw):
        return MarketEntityGenerator(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, defects=defects, **kw)

    @property
    def pool(self) -> EntityPool:
        return self.generator.pool

    def publish(self, events: list[SimEvent]) -> None:
        for ev in events:
            self.rows.append(json.dumps(render(ev), ensure_ascii=False))
            self.ledger.record(ev, position=str(len(self.rows)), reason=self.generator.reason(ev))

    def build_app(self) -> FastAPI:
        app = FastAPI(title="浙江省市场主体登记信息共享接口 (simulated)")

        @app.get("/api/v2/entities/changes")
        def changes(cursor: str | None = None, limit: int = Query(200, ge=1, le=1000),
                    authorization: str | None = Header(None)):
            require_bearer(authorization, self.token)
            items, end, total = cursor_window(self.rows, self.lock, cursor, limit)
            body = f'{{"code":0,"total":{total},"nextCursor":"{end}","data":[{",".join(items)}]}}'
            return Response(body.encode("utf-8"), media_type="application/json; charset=utf-8")

        @app.get("/health")
        def health():
            return {"status": "ok", "records": len(self.rows), "registered": len(self.generator.registered)}

        return app


def main(argv=None) -> None:
    def extra(p):
        p.add_argument("--token", default="scjg-reg-token")
        p.add_argument("--pool-size", type=int, default=50_000, help="entities in the pool (registered first)")

    cli(lambda a: MarketEntitySimulator(**sim_options(a), port=a.port, token=a.token, pool_size=a.pool_size),
        "Simulated market-entity registration system (HTTP JSON, cursor paging, bearer token)",
        extra=extra, argv=argv)


if __name__ == "__main__":
    main()
