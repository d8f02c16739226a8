"""Grassroots governance platform (基层治理四平台, grid events): pushes signed JSON to a webhook,
or serves it for pull -- one primary ``mode`` per instance.

Pull (``mode="pull"``, and always available for backfill)::

    GET /api/events?cursor=<seq>&size=<1..500, default 100>
    Authorization: Bearer <token>          (401 + WWW-Authenticate: Bearer without it)
    -> 200 {"success": true, "data": {"events": [...], "nextCursor": "<seq>", "hasMore": bool}}
    -> 400 {"detail": "invalid cursor"}    (not a decimal sequence number this server issued)

The cursor is the platform sequence number of the last event returned (omit it to start at
the beginning); ``nextCursor`` is always present, so a client stores it and resumes.

Push (``mode="push"``): every event is one ``POST <webhook_url>`` whose body is the event
object itself (UTF-8 JSON), with ``Content-Type: application/json`` and the hub's signature
headers (:func:`connectors.sinks.signing.signed_headers`, the convention of the hub's
``POST /connect/push/{connector}``): ``X-Hub-Timestamp`` (Unix seconds),
``X-Hub-Signature: sha256=hex(HMAC-SHA256(secret, f"{timestamp}." + body))`` and
``X-Hub-Delivery-Id: grassroots-<seq:06d>``.  Non-2xx answers and connection errors are
retried (``retries`` times, backoff from 0.05 s doubling) with the same body and delivery id;
the initial ``count`` events are pushed from a background thread started by :meth:`start`.

Event fields (snake English): ``event_no`` (source key), ``version``, ``status`` {``code``,
``name``} (:data:`STATUSES`), ``status_time`` ``yyyy-MM-dd HH:mm:ss``, ``grid`` {``code``
(15 digits: county + street + community + grid), ``name``}, ``area_code`` (county),
``street_code`` (9 digits), ``event_type`` {``code``, ``name``} (:data:`EVENT_TYPES`),
``title``, ``description``, ``location`` {``address``, ``lng``, ``lat``} (WGS-84),
``reporter`` {``name``, ``phone``, ``role`` 网格员/群众} (personal information), ``report_time``,
``dispose_dept`` {``code``, ``name``} or ``null`` until assigned, ``entity`` {``name``,
``credit_code``} or ``null``, ``images`` (URLs), ``opinion`` (handling note).

Ledger: one entry per event version when it becomes visible (appended to the served list, and
in push mode also pushed); ``position`` = the delivery id ``grassroots-<seq:06d>`` (``seq`` = the
pull cursor after that event).  Defects: ``unknown_region`` (``area_code`` -> ``region_unknown``),
``missing_required`` (``description`` null -> ``schema``), ``fullwidth_digits`` (reporter phone
in full-width digits; repairable), optional ``bad_uscc_check`` (entity credit code ->
``uscc_check``); plus duplicate and out-of-order re-sends.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI, Header, Query

from ops.simulators.base import cli, fmt, sim_options
from ops.simulators.cases import UNKNOWN_REGIONS, SimEvent, add_workdays, to_fullwidth
from ops.simulators.lifecycle import (
    USCC_CHARS,
    ZJ_COUNTIES,
    GeneratedHttpSimulator,
    Item,
    VersionedGenerator,
)
from ops.simulators.paging import add_health, cursor_window, require_bearer
from ops.simulators.push import SignedPusher
from schemas.regions import region_name

DT = "%Y-%m-%d %H:%M:%S"
#: (code, name, disposing department (code, kind), entity involved?, description templates)
EVENT_TYPES = [
    ("01", "安全隐患", ("330000YJT", "应急管理局"), True,
     ["巡查发现{entity}仓库内违规存放液化气钢瓶{n}瓶，未设置通风报警装置。",
      "{entity}厂房电线私拉乱接，消防通道被货物堵塞。"]),
    ("02", "违法建设", ("330000ZHZF", "综合行政执法局"), True,
     ["巡查发现{entity}在{addr}违规搭建简易棚房约{n}平方米。", "{addr}有村民未批先建，已砌墙至{n}层。"]),
    ("03", "环境污染", ("330000STJ", "生态环境局"), True,
     ["{entity}污水直排入{addr}附近河道，水体发黑。", "{entity}露天焚烧废料，浓烟影响周边居民。"]),
    ("04", "食品安全", ("330000SCJ", "市场监督管理局"), True,
     ["{entity}无证经营熟食，现场卫生条件差。", "{entity}销售过期食品{n}件，已现场劝导下架。"]),
    ("05", "占道经营", ("330000ZHZF", "综合行政执法局"), False,
     ["{addr}流动摊贩占道经营，影响行人通行。", "{addr}沿街店铺出店经营，堆放杂物。"]),
    ("06", "矛盾纠纷", ("330000SFT", "司法局"), False,
     ["{addr}两户村民因宅基地边界发生纠纷，需调解。", "{addr}小区业主与物业因停车费发生争执。"]),
]
STATUSES = {"reported": ("10", "已上报"), "accepted": ("20", "已受理"), "assigned": ("30", "已分派"),
            "disposing": ("40", "处置中"), "disposed": ("50", "已办结"), "archived": ("60", "已核查归档")}
GRID_DEFECTS = ("unknown_region", "missing_required", "fullwidth_digits")


class GridEventGenerator(VersionedGenerator):
    """Deterministic grid events through reported -> accepted -> assigned -> disposing -> disposed -> archived."""

    DEFAULT_DEFECTS = GRID_DEFECTS
    SUPPORTED_DEFECTS = (*GRID_DEFECTS, "bad_uscc_check")
    salt = "grid"

    def __init__(self, seed: int, *args, **kw):
        super().__init__(seed, *args, **kw)
        self._officers: dict[str, tuple[str, str]] = {}

    def _officer(self, grid: str) -> tuple[str, str]:
        if grid not in self._officers:
            self._officers[grid] = (self.fake.name(), self.mobile())
        return self._officers[grid]

    def _new_item(self) -> Item:
        rng, fake = self.rng, self.fake
        code, tname, dept, with_entity, templates = rng.choice(EVENT_TYPES)
        region = rng.choice(ZJ_COUNTIES)
        street, community, grid_no = rng.randrange(1, 20), rng.randrange(1, 30), rng.randrange(1, 12)
        grid = f"{region}{street:03d}{community:03d}{grid_no:03d}"
        addr = self.address(region)
        entity = (fake.company(), self.uscc(region)) if with_entity and rng.random() < 0.85 else None
        by_officer = rng.random() < 0.8
        reporter = self._officer(grid) if by_officer else (fake.name(), self.mobile())
        reported = self.when(self.anchor - timedelta(days=rng.randrange(1, 200)), 7, 12)
        key = f"JCZL{reported:%Y%m%d}{self.seq:06d}"
        desc = rng.choice(templates).format(entity=entity[0] if entity else "", addr=addr, n=rng.randrange(2, 40))
        lng, lat = 118.0 + rng.random() * 4.0, 27.2 + rng.random() * 3.5
        base = {
            "event_no": key, "grid_code": grid,
            "grid_name": f"{region_name(region)}{fake.street_name()}社区第{grid_no}网格",
            "region_code": region, "street_code": grid[:9], "type_code": code, "type_name": tname,
            "title": f"{tname}：{desc[:12]}…", "description": desc, "address": addr,
            "lng": round(lng, 6), "lat": round(lat, 6),
            "reporter_name": reporter[0], "reporter_phone": reporter[1],
            "reporter_role": "网格员" if by_officer else "群众", "reported_time": reported,
            "dept_code": None, "dept_name": None,
            "entity_name": entity[0] if entity else None, "entity_uscc": entity[1] if entity else None,
            "images": [f"https://jczl.zj.gov.cn/files/{key}/{i}.jpg" for i in range(rng.randrange(0, 3))],
            "opinion": None,
        }
        tl: list[tuple[str, datetime, dict]] = [("reported", reported, {})]
        t = reported

        def step(stage: str, days: int, changes: dict | None = None) -> None:
            nonlocal t
            t = max(self.when(add_workdays(t.date(), days)) if days else t, t) + timedelta(minutes=rng.randrange(5, 120))
            tl.append((stage, t, changes or {}))

        if rng.random() < 0.2:  # solved on the spot by the grid officer
            step("disposed", 0, {"opinion": "网格员现场劝导，已当场整改。"})
        else:
            step("accepted", 0)
            step("assigned", rng.randrange(0, 2), {"dept_code": dept[0], "dept_name": f"{region_name(region)}{dept[1]}"})
            step("disposing", rng.randrange(0, 3))
            step("disposed", rng.randrange(1, 10), {"opinion": rng.choice(["已责令整改到位。", "已立案查处。",
                                                                          "经调解双方达成一致。"])})
        step("archived", rng.randrange(1, 5))
        return Item(key, base, tl)

    def _applicable(self, kind: str, f: dict) -> bool:
        return kind != "bad_uscc_check" or f["entity_uscc"] is not None

    def _apply_defect(self, f: dict, kind: str) -> None:
        if kind == "unknown_region":
            f["region_code"] = self.rng.choice(UNKNOWN_REGIONS)
        elif kind == "missing_required":
            f["description"] = None
        elif kind == "fullwidth_digits":
            f["reporter_phone"] = to_fullwidth(f["reporter_phone"])
        elif kind == "bad_uscc_check":
            f["entity_uscc"] = self.wrong_check(f["entity_uscc"], USCC_CHARS)


def _coded(code, name) -> dict | None:
    return None if code is None else {"code": code, "name": name}


class GrassrootsSimulator(SignedPusher, GeneratedHttpSimulator):
    system = "grassroots"
    department_code = "330000ZFW"

    def __init__(self, seed: int = 1, count: int = 100, *, mode: str = "pull", webhook_url: str | None = None,
                 secret: str = "grassroots-sim-secret", token: str = "grid-sim-token", retries: int = 5,
                 interval: float = 0.0, **kw):
        if mode not in ("pull", "push"):
            raise ValueError("mode must be 'pull' or 'push'")
        if mode == "push" and not webhook_url:
            raise ValueError("push mode needs webhook_url")
        self.mode, self.webhook_url, self.secret, self.token = mode, webhook_url, secret, token
        self.retries, self.interval = retries, interval
        self.delivered = self.failed = 0
        self._client = httpx.Client(timeout=10) if mode == "push" else None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # push mode: nothing is emitted before start() (the webhook may not be up yet)
        super().__init__(seed, 0 if mode == "push" else count, **kw)
        self.initial_count = count

    def make_generator(self, seed, bad_ratio, duplicate_ratio, out_of_order_ratio, **kw) -> GridEventGenerator:
        return GridEventGenerator(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, **kw)

    def render(self, ev: SimEvent) -> dict:
        f = ev.fields
        code, name = STATUSES[ev.stage]
        return {
            "event_no": f["event_no"], "version": ev.version, "status": {"code": code, "name": name},
            "status_time": fmt(f["stage_time"], DT), "grid": {"code": f["grid_code"], "name": f["grid_name"]},
            "area_code": f["region_code"], "street_code": f["street_code"],
            "event_type": {"code": f["type_code"], "name": f["type_name"]}, "title": f["title"],
            "description": f["description"],
            "location": {"address": f["address"], "lng": f["lng"], "lat": f["lat"]},
            "reporter": {"name": f["reporter_name"], "phone": f["reporter_phone"], "role": f["reporter_role"]},
            "report_time": fmt(f["reported_time"], DT), "dispose_dept": _coded(f["dept_code"], f["dept_name"]),
            "entity": {"name": f["entity_name"], "credit_code": f["entity_uscc"]} if f["entity_name"] else None,
            "images": f["images"], "opinion": f["opinion"],
        }

    def publish(self, events: list[SimEvent]) -> None:
        for ev in events:
            if self._stop.is_set():
                return
            row = self.render(ev)
            self.rows.append(row)
            delivery = f"{self.system}-{len(self.rows):06d}"
            self.ledger.record(ev, position=delivery)
            if self.mode == "push":
                self._push(json.dumps(row, ensure_ascii=False).encode("utf-8"), delivery)
                if self.interval:
                    self._stop.wait(self.interval)

    def build_app(self) -> FastAPI:
        app = FastAPI(title="基层治理四平台事件接口 (simulated)")

        @app.get("/api/events")
        def events(cursor: str | None = None, size: int = Query(100, ge=1, le=500),
                   authorization: str | None = Header(None)):
            require_bearer(authorization, self.token)
            items, end, n = cursor_window(self.rows, self.lock, cursor, size)
            return {"success": True, "data": {"events": items, "nextCursor": str(end), "hasMore": end < n}}

        add_health(app, self, mode=self.mode)
        return app

    def start(self) -> str:
        """Serve the pull API; in push mode also push the initial events from a thread.

        Returns the base URL (pull) or the webhook URL (push).
        """
        url = super().start()
        if self.mode == "pull":
            return url
        self._push_initial()
        return self.webhook_url

    def stop(self) -> None:
        self._stop.set()
        self.join(timeout=10)
        if self._client:
            self._client.close()
        super().stop()


def main(argv=None) -> None:
    def extra(p):
        p.add_argument("--mode", choices=("pull", "push"), default="pull")
        p.add_argument("--webhook", default=None, help="hub webhook URL to POST to (push mode)")
        p.add_argument("--secret", default="grassroots-sim-secret")
        p.add_argument("--token", default="grid-sim-token")
        p.add_argument("--push-interval", type=float, default=0.0)

    cli(lambda a: GrassrootsSimulator(**sim_options(a), port=a.port, mode=a.mode, webhook_url=a.webhook,
                                      secret=a.secret, token=a.token, interval=a.push_interval),
        "Simulated grassroots governance platform (grid events: bearer cursor pull or HMAC-signed push)",
        extra=extra, argv=argv)


if __name__ == "__main__":
    main()
