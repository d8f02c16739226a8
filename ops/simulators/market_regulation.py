"""Market regulation (市场监管) penalty system: HTTP JSON, page-number paging, gzip bodies.

Wire shape::

    GET /api/v1/punishments?pageNo=<1-based>&pageSize=<1..1000, default 100>
    -> 200, Content-Encoding: gzip (always), Content-Type: application/json; charset=utf-8
       {"success": true, "totalCount": T, "pageNo": N, "pageSize": M, "rows": [...]}

No authentication.  Field names follow the upper-case "双公示" convention: ``CF_AJBH`` case
number (source key), ``CF_BBH`` version, ``CF_CZLX`` ``I``/``U``/``D``, ``CF_HJ`` stage symbol,
``CF_HJMC`` stage name, ``CF_HJSJ`` stage time ISO 8601 with ``+08:00``, ``CF_AJMC``,
``CF_AJLY`` case source name, ``CF_XDR_LB`` ``法人及非法人组织``/``自然人``, ``CF_XDR_MC``,
``CF_XDR_SHXYM`` credit code (units) / ``CF_XDR_ZJHM`` resident ID (persons), ``CF_FRDB``,
``CF_XDR_DZ``, ``CF_XZQH`` region, ``CF_SXBM`` catalog code, ``CF_SSQDBM`` implementation code,
``CF_CFJG``/``CF_CFJGDM`` deciding agency name/credit code, ``CF_ZFRY`` officers
``[{"XM","ZJH"}]``, ``CF_JCBH``, ``CF_SY`` facts, ``CF_YJ`` basis, ``CF_CXLX`` ``普通``/``简易``,
dates ``yyyy-MM-dd``: ``CF_LARQ``, ``CF_GZRQ``, ``CF_JDRQ``, ``CF_JARQ``, ``CF_YSRQ``;
``CF_WSH`` decision number, ``CF_CFLBDM``/``CF_CFLB`` penalty kind, ``CF_FKJE``/``CF_SJJE``
(strings, yuan), ``CF_NR`` result, ``CF_ZXFS``, ``CF_YY`` reason, ``CF_HJWSH`` stage document.
``gb18030_in_utf8`` does not apply (JSON).
"""

from __future__ import annotations

import gzip
import json

from fastapi import FastAPI, Query, Response

from ops.simulators.base import HttpSimulator, cli, fmt, sim_options
from ops.simulators.cases import STAGE_NAMES, SimEvent
from ops.simulators.paging import page_window

D = "%Y-%m-%d"


class MarketRegulationSimulator(HttpSimulator):
    system = "market_regulation"
    department_code = "330000SCJ"
    agency_kind = "市场监督管理局"

    def render(self, ev: SimEvent) -> dict:
        f = ev.fields
        person = f["party_type"] == "person"
        return {
            "CF_AJBH": f["case_number"], "CF_BBH": ev.version, "CF_CZLX": ev.operation.upper(),
            "CF_HJ": ev.stage, "CF_HJMC": STAGE_NAMES[ev.stage],
            "CF_HJSJ": f["stage_time"].isoformat(timespec="seconds") + "+08:00",
            "CF_AJMC": f["penalty_name"], "CF_AJLY": f["case_source_name"],
            "CF_XDR_LB": "自然人" if person else "法人及非法人组织", "CF_XDR_MC": f["party_name"],
            "CF_XDR_SHXYM": None if person else f["party_id"],
            "CF_XDR_ZJHM": f["party_id"] if person else None,
            "CF_FRDB": f["party_legal_rep"], "CF_XDR_DZ": f["party_address"],
            "CF_XZQH": f["region_code"], "CF_SXBM": f["catalog_code"],
            "CF_SSQDBM": f["implementation_code"], "CF_CFJG": f["agency_name"],
            "CF_CFJGDM": f["agency_uscc"],
            "CF_ZFRY": [{"XM": f["officer1_name"], "ZJH": f["officer1_cert"]},
                        {"XM": f["officer2_name"], "ZJH": f["officer2_cert"]}],
            "CF_JCBH": f["inspection_number"], "CF_SY": f["facts"], "CF_YJ": f["legal_basis"],
            "CF_CXLX": "简易" if f["procedure"] == "simple" else "普通",
            "CF_LARQ": fmt(f["filing_date"], D), "CF_GZRQ": fmt(f["notice_date"], D),
            "CF_JDRQ": fmt(f["decision_date"], D), "CF_JARQ": fmt(f["closing_date"], D),
            "CF_YSRQ": fmt(f["referral_date"], D), "CF_WSH": f["decision_number"],
            "CF_CFLBDM": f["penalty_kind_code"], "CF_CFLB": f["penalty_kind_name"],
            "CF_FKJE": f["fine_amount"], "CF_SJJE": f["fine_paid"], "CF_NR": f["penalty_result"],
            "CF_ZXFS": f["execution_mode"], "CF_YY": f["stage_reason"],
            "CF_HJWSH": f["stage_document_number"],
        }

    def build_app(self) -> FastAPI:
        app = FastAPI(title="市场监管行政处罚信息接口 (simulated)")

        @app.get("/api/v1/punishments")
        def punishments(pageNo: int = Query(1, ge=1), pageSize: int = Query(100, ge=1, le=1000)):  # noqa: N803 - the system's names
            rows, total, _ = page_window(self.rows, self.lock, pageNo, pageSize)
            body = json.dumps({"success": True, "totalCount": total, "pageNo": pageNo,
                               "pageSize": pageSize, "rows": rows}, ensure_ascii=False)
            return Response(gzip.compress(body.encode("utf-8"), mtime=0),
                            media_type="application/json; charset=utf-8",
                            headers={"Content-Encoding": "gzip"})

        return app


def main(argv=None) -> None:
    cli(lambda a: MarketRegulationSimulator(**sim_options(a), port=a.port),
        "Simulated market-regulation penalty system (HTTP JSON, page paging, gzip)", argv=argv)


if __name__ == "__main__":
    main()
