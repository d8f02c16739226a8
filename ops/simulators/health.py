"""Health commission (卫生健康) penalty system: HTTP JSON, page-number paging, basic auth.

Wire shape::

    GET /cases?page=<1-based, default 1>&size=<1..500, default 50>
    Authorization: Basic base64(user:password)     (401 without it; default wjw / wjw-sim)
    -> 200 {"code": 0, "msg": "success",
            "data": {"total": T, "page": N, "size": M, "pages": P, "list": [...]}}

Rows are in emission order, so page N is stable while the system keeps appending rows at
the end (a client re-reads its last, possibly partial, page).

Row fields (camelCase English): ``caseCode`` source key, ``versionNo`` version, ``opType``
``INSERT``/``UPDATE``/``DELETE``, ``stageCode``/``stageName`` (standard stage symbol and its
Chinese name), ``stageTime`` and ``updateTime`` epoch milliseconds, ``caseName``,
``sourceType``/``sourceTypeName``, ``partyKind`` ``ENTERPRISE``/``PERSON``, ``partyName``,
``creditCode`` (enterprises) or ``idCardNo`` (persons) -- the other one is ``null`` --,
``legalPerson``, ``address``, ``areaCode`` region, ``itemCode`` catalog code, ``implCode``
implementation-list code, ``orgName``/``orgCode`` agency, ``officers`` as one string
``姓名(证号);姓名(证号)``, ``inspectionNo``, ``illegalFact``, ``lawBasis``, ``procedureType``
``ORDINARY``/``SIMPLE``, dates ``yyyyMMdd``: ``registerDate`` (filing), ``informDate``,
``decideDate``, ``closeDate``, ``transferDate``; ``decideDocNo``, ``punishType``/``punishTypeName``,
``fineAmount``/``paidAmount`` (strings, yuan), ``punishResult``, ``executeMode``, ``reason``,
``docNo``.  ``gb18030_in_utf8`` does not apply (JSON).
"""

from __future__ import annotations

import base64

from fastapi import FastAPI, Header, HTTPException, Query

from ops.simulators.base import HttpSimulator, cli, epoch_ms, fmt, sim_options
from ops.simulators.cases import STAGE_NAMES, SimEvent
from ops.simulators.paging import page_window

YMD = "%Y%m%d"
OPS = {"i": "INSERT", "u": "UPDATE", "d": "DELETE"}


class HealthSimulator(HttpSimulator):
    system = "health"
    department_code = "330000WJW"
    agency_kind = "卫生健康局"

    def __init__(self, *args, user: str = "wjw", password: str = "wjw-sim", **kw):
        self.credentials = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        super().__init__(*args, **kw)

    def render(self, ev: SimEvent) -> dict:
        f = ev.fields
        person = f["party_type"] == "person"
        return {
            "caseCode": f["case_number"], "versionNo": ev.version, "opType": OPS[ev.operation],
            "stageCode": ev.stage, "stageName": STAGE_NAMES[ev.stage],
            "stageTime": epoch_ms(f["stage_time"]), "updateTime": epoch_ms(f["stage_time"]),
            "caseName": f["penalty_name"], "sourceType": f["case_source_code"],
            "sourceTypeName": f["case_source_name"],
            "partyKind": "PERSON" if person else "ENTERPRISE", "partyName": f["party_name"],
            "creditCode": None if person else f["party_id"],
            "idCardNo": f["party_id"] if person else None,
            "legalPerson": f["party_legal_rep"], "address": f["party_address"],
            "areaCode": f["region_code"], "itemCode": f["catalog_code"],
            "implCode": f["implementation_code"], "orgName": f["agency_name"],
            "orgCode": f["agency_uscc"],
            "officers": f"{f['officer1_name']}({f['officer1_cert']});{f['officer2_name']}({f['officer2_cert']})",
            "inspectionNo": f["inspection_number"], "illegalFact": f["facts"],
            "lawBasis": f["legal_basis"], "procedureType": f["procedure"].upper(),
            "registerDate": fmt(f["filing_date"], YMD), "informDate": fmt(f["notice_date"], YMD),
            "decideDate": fmt(f["decision_date"], YMD), "decideDocNo": f["decision_number"],
            "punishType": f["penalty_kind_code"], "punishTypeName": f["penalty_kind_name"],
            "fineAmount": f["fine_amount"], "punishResult": f["penalty_result"],
            "executeMode": f["execution_mode"], "paidAmount": f["fine_paid"],
            "closeDate": fmt(f["closing_date"], YMD), "transferDate": fmt(f["referral_date"], YMD),
            "reason": f["stage_reason"], "docNo": f["stage_document_number"],
        }

    def build_app(self) -> FastAPI:
        app = FastAPI(title="卫生健康行政处罚数据接口 (simulated)")

        @app.get("/cases")
        def cases(page: int = Query(1, ge=1), size: int = Query(50, ge=1, le=500),
                  authorization: str | None = Header(None)):
            if authorization != self.credentials:
                raise HTTPException(401, "authentication required",
                                    headers={"WWW-Authenticate": 'Basic realm="wjw"'})
            rows, total, pages = page_window(self.rows, self.lock, page, size)
            return {"code": 0, "msg": "success",
                    "data": {"total": total, "page": page, "size": size, "pages": pages, "list": rows}}

        return app


def main(argv=None) -> None:
    def extra(p):
        p.add_argument("--user", default="wjw")
        p.add_argument("--password", default="wjw-sim")

    cli(lambda a: HealthSimulator(**sim_options(a), port=a.port, user=a.user, password=a.password),
        "Simulated health-commission penalty system (HTTP JSON, page paging, basic auth)",
        extra=extra, argv=argv)


if __name__ == "__main__":
    main()
