"""Supervision item catalog system (监管事项目录清单系统): HTTP JSON pull, page numbers, API key.

The provincial catalog: ``items`` supervision items (default 200), spread over every
enforcement domain of :data:`schemas.domains.DOMAINS`, each mapped to the national catalog
and the power list, with its implementation list (the domain's departments at province,
city and county level) and 3-8 check contents.  First every item's version 1 is published;
then new versions (a check content added or dropped, a legal basis amended) with a new
version label and a later ``valid_from``; about 3 % of the new versions abolish the item
(``valid_to`` set, operation ``D``).

Wire shape::

    GET /api/catalog/items?page=<1-based>&size=<1..500, default 50>
    X-Api-Key: <key>                           (401 without it)
    -> 200 {"code": "200", "page": N, "size": M, "total": T, "items": [...]}

Rows are appended (one per item version), never rewritten.  Fields: ``SXID`` item id (source
key), ``BBH`` version number, ``CZBS`` ``I``/``U``/``D``, ``GXSJ`` update time
``yyyy-MM-dd HH:mm:ss``, ``BBMC`` version label (``2024.1``), ``SXBM`` 14-digit catalog code,
``GJSXBM`` national code, ``SJSXBM`` provincial code, ``QLQDBM`` power-list code, ``SXMC``
name, ``JGLX`` supervision type code (01 inspection, 02 penalty, 03 coercion, 99 other),
``ZFLY`` domain code, ``SDYJ`` legal basis, ``SXRQ`` / ``SXRQ_Z`` valid from / to
(``yyyy-MM-dd``), ``FBJG`` publishing department code and ``XZQH`` its region, ``SSQD`` the
implementation list ``[{"QDBM", "JGXYDM", "SSJG": {"code", "name"}, "CJ" 1 province / 2 city /
3 county, "XZQH"}]`` and ``JCNR`` the check contents ``[{"NRBM", "NRMC", "JCYJ", "JCFS"
01 on-site / 02 documents / 03 online monitoring / 04 sampling}]``.

Defects (:data:`ItemCatalogGenerator.REASONS`): ``bad_item_code`` (``item_code_format``),
``unknown_region`` (publisher region: ``region_unknown``), ``missing_required`` (no name:
``schema``); plus re-sends.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from fastapi import FastAPI, Header, HTTPException, Query, Response

from ops.simulators.base import HttpSimulator, cli, fmt, sim_options
from ops.simulators.cases import UNKNOWN_REGIONS, SimEvent
from ops.simulators.master import MasterStream
from ops.simulators.officer_certs import agency_uscc
from ops.simulators.paging import page_window
from schemas.domains import DOMAINS, department_code, department_name
from schemas.regions import cities, counties

DT, D = "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"
ITEM_TYPES = [("01", "行政检查", 8), ("02", "行政处罚", 1), ("03", "行政强制", 1)]
LEVELS = {"province": "1", "city": "2", "county": "3"}
#: Per domain: (law, subjects checked, check-content templates).
SUBJECTS = {
    "SCJG": ("《中华人民共和国市场主体登记管理条例》", ["市场主体登记事项", "广告发布", "产品质量", "价格行为", "网络交易"]),
    "SPAQ": ("《中华人民共和国食品安全法》", ["食品经营许可", "餐饮服务食品安全", "食品生产过程", "食品添加剂使用", "进货查验记录"]),
    "TZSB": ("《中华人民共和国特种设备安全法》", ["电梯使用管理", "锅炉压力容器", "起重机械", "特种设备作业人员", "定期检验"]),
    "YPJG": ("《中华人民共和国药品管理法》", ["药品经营质量管理规范", "医疗器械经营", "药品购销记录", "处方药销售", "冷链储运"]),
    "STHJ": ("《中华人民共和国环境保护法》", ["排污许可", "污染防治设施运行", "危险废物管理", "自动监测数据", "环评批复落实"]),
    "AQSC": ("《中华人民共和国安全生产法》", ["安全生产责任制", "危险化学品储存", "应急预案演练", "隐患排查治理", "特种作业人员持证"]),
    "WSJK": ("《医疗机构管理条例》", ["医疗机构执业", "医师执业资格", "医疗废物处置", "消毒隔离", "医疗美容项目"]),
    "ZRZY": ("《中华人民共和国土地管理法》", ["土地利用", "耕地保护", "矿产资源开采", "建设用地审批", "测绘地理信息"]),
    "JTYS": ("《中华人民共和国道路运输条例》", ["道路运输经营许可", "车辆技术状况", "驾驶员从业资格", "危险货物运输", "超限超载"]),
    "CSGL": ("《城市市容和环境卫生管理条例》", ["违法建设", "占道经营", "建筑工地扬尘", "户外广告设施", "餐饮油烟"]),
}
ASPECTS = ["是否依法取得{s}相关许可并在有效期内", "{s}台账记录是否完整、真实", "{s}制度是否建立并落实",
           "{s}现场是否符合规定要求", "{s}人员是否经培训合格", "{s}问题整改是否到位", "{s}信息是否按规定公示",
           "{s}设施设备是否正常运行", "{s}档案资料是否齐全"]
METHODS = ["01", "02", "03", "04"]


class ItemCatalogGenerator(MasterStream):
    """Version 1 of every item, then new versions; see the module docstring."""

    REASONS = {"bad_item_code": "item_code_format", "unknown_region": "region_unknown",
               "missing_required": "schema"}
    DEFAULT_DEFECTS = tuple(REASONS)
    salt = "item-catalog"

    def __init__(self, seed: int, bad_ratio: float = 0.05, duplicate_ratio: float = 0.02,
                 out_of_order_ratio: float = 0.02, *, items: int = 200, **kw):
        super().__init__(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, **kw)
        self.items = items
        self.current: list[dict] = []
        self._clock = datetime.combine(self.anchor - timedelta(days=200), datetime.min.time())

    def _contents(self, domain: str, n: int, start: int = 1) -> list[dict]:
        law, subjects = SUBJECTS[domain]
        rng = self.rng
        return [{"code": f"{start + k:03d}", "text": rng.choice(ASPECTS).format(s=rng.choice(subjects)),
                 "basis": f"{law}第{rng.randrange(10, 120)}条", "method": rng.choice(METHODS)} for k in range(n)]

    def _implementations(self, domain: str) -> list[dict]:
        rng = self.rng
        city_list = rng.sample(cities(), rng.randrange(1, 4))
        regions = [("province", "330000")] + [("city", c) for c in city_list] + [
            ("county", rng.choice(counties(c))) for c in city_list]
        out = []
        for level, region in regions:
            dept = department_code(domain, region)
            uscc = agency_uscc(dept)
            out.append({"code": f"{uscc}{rng.randrange(1, 6)}{rng.randrange(1000):03d}", "uscc": uscc,
                        "dept": dept, "dept_name": department_name(domain, region), "level": level,
                        "region": region})
        return out

    def _new_item(self, n: int) -> dict:
        rng = self.rng
        codes = list(DOMAINS)
        domain = codes[n % len(codes)]
        di = codes.index(domain) + 1
        itype = rng.choices(ITEM_TYPES, weights=[t[2] for t in ITEM_TYPES])[0]
        law, subjects = SUBJECTS[domain]
        subject = subjects[(n // len(codes)) % len(subjects)]
        seq = n // len(codes) + 1
        code = f"{di:02d}{itype[0]}{seq:04d}{rng.randrange(10**6):06d}"
        published = self.anchor - timedelta(days=rng.randrange(200, 900))
        return {"id": f"SX{n + 1:08d}", "label": f"{published.year}.1", "code": code,
                "national": f"{code[:8]}000000", "provincial": f"33{code[2:]}",
                "power": f"330{itype[0]}{di:02d}{seq:05d}000", "name": f"对{subject}的{itype[1]}",
                "type": itype[0], "domain": domain, "basis": f"{law}", "valid_from": published, "valid_to": None,
                "publisher": "330000", "publisher_dept": department_code(domain, "330000"),
                "impl": self._implementations(domain), "contents": self._contents(domain, rng.randrange(3, 9)),
                "at": self.at(published)}

    def _fresh_event(self) -> SimEvent:
        rng = self.rng
        if len(self.current) < self.items:
            item = self._new_item(len(self.current))
            self.current.append(item)
            return self.event(item["id"], "publish", item)
        live = [i for i in (rng.choice(self.current) for _ in range(8)) if i["valid_to"] is None] or [self.current[0]]
        item = live[0]
        self._clock = max(self._clock + timedelta(hours=rng.randrange(1, 30)), item["at"] + timedelta(days=1))
        item["at"] = self._clock
        # A new version takes effect after the one it replaces (else "current" and the labels are ambiguous).
        item["valid_from"] = max(self._clock.date() + timedelta(days=rng.randrange(0, 30)),
                                 item["valid_from"] + timedelta(days=1))
        year, n = item["label"].split(".")
        item["label"] = f"{item['valid_from'].year}.{int(n) + 1 if int(year) == item['valid_from'].year else 1}"
        op = None
        if rng.random() < 0.03:
            stage, item["valid_to"], op = "abolish", item["valid_from"], "d"
        elif len(item["contents"]) < 8 and (len(item["contents"]) <= 3 or rng.random() < 0.6):
            stage = "add_content"
            last = max(int(c["code"]) for c in item["contents"])
            item["contents"] = item["contents"] + self._contents(item["domain"], 1, last + 1)
        else:
            stage = "drop_content"
            victim = rng.choice(item["contents"])
            item["contents"] = [c for c in item["contents"] if c is not victim]
        return self.event(item["id"], stage, item, operation=op)

    def apply_defect(self, ev: SimEvent, kind: str) -> None:
        f = ev.fields
        if kind == "bad_item_code":
            code = f["code"]
            f["code"] = self.rng.choice([code[:13], code + "7", code[:6] + "O" + code[7:]])
        elif kind == "unknown_region":
            f["publisher"] = self.rng.choice(UNKNOWN_REGIONS)
        elif kind == "missing_required":
            f["name"] = None


def render(ev: SimEvent) -> dict:
    """One catalog row in the system's dialect."""
    f = ev.fields
    return {
        "SXID": f["id"], "BBH": ev.version, "CZBS": ev.operation.upper(), "GXSJ": fmt(f["at"], DT),
        "BBMC": f["label"], "SXBM": f["code"], "GJSXBM": f["national"], "SJSXBM": f["provincial"],
        "QLQDBM": f["power"], "SXMC": f["name"], "JGLX": f["type"], "ZFLY": f["domain"], "SDYJ": f["basis"],
        "SXRQ": fmt(f["valid_from"], D), "SXRQ_Z": fmt(f["valid_to"], D), "FBJG": f["publisher_dept"],
        "XZQH": f["publisher"],
        "SSQD": [{"QDBM": i["code"], "JGXYDM": i["uscc"], "SSJG": {"code": i["dept"], "name": i["dept_name"]},
                  "CJ": LEVELS[i["level"]], "XZQH": i["region"]} for i in f["impl"]],
        "JCNR": [{"NRBM": c["code"], "NRMC": c["text"], "JCYJ": c["basis"], "JCFS": c["method"]}
                 for c in f["contents"]],
    }


class ItemCatalogSimulator(HttpSimulator):
    """The catalog as a loopback HTTP server (see the module docstring). Generator keyword: ``items``."""

    system = "item_catalog"
    department_code = "330000SPB"

    def __init__(self, *args, api_key: str = "catalog-sim-key", **kw):
        self.api_key = api_key
        super().__init__(*args, **kw)

    def make_generator(self, seed, bad_ratio, duplicate_ratio, out_of_order_ratio, *, defects=None, **kw):
        return ItemCatalogGenerator(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, defects=defects, **kw)

    def publish(self, events: list[SimEvent]) -> None:
        for ev in events:
            self.rows.append(json.dumps(render(ev), ensure_ascii=False))
            self.ledger.record(ev, position=str(len(self.rows)), reason=self.generator.reason(ev))

    def build_app(self) -> FastAPI:
        app = FastAPI(title="浙江省监管事项目录清单接口 (simulated)")

        @app.get("/api/catalog/items")
        def items(page: int = Query(1, ge=1), size: int = Query(50, ge=1, le=500),
                  x_api_key: str | None = Header(None)):
            if x_api_key != self.api_key:
                raise HTTPException(401, "invalid api key")
            rows, total, _ = page_window(self.rows, self.lock, page, size)
            body = f'{{"code":"200","page":{page},"size":{size},"total":{total},"items":[{",".join(rows)}]}}'
            return Response(body.encode("utf-8"), media_type="application/json; charset=utf-8")

        @app.get("/health")
        def health():
            return {"status": "ok", "records": len(self.rows)}

        return app


def main(argv=None) -> None:
    def extra(p):
        p.add_argument("--api-key", default="catalog-sim-key")
        p.add_argument("--items", type=int, default=200)

    cli(lambda a: ItemCatalogSimulator(**sim_options(a), port=a.port, api_key=a.api_key, items=a.items),
        "Simulated supervision item catalog (HTTP JSON, page numbers, API key)", extra=extra, argv=argv)


if __name__ == "__main__":
    main()
