"""Medical-waste monitoring system (医疗废物智慧监管平台): risk clues over HTTP JSON, page paging, bearer.

Wire shape::

    GET /openapi/v1/risk-clues?pageNum=<1-based, default 1>&pageSize=<1..500, default 50>
    Authorization: Bearer <token>          (401 + WWW-Authenticate: Bearer without it)
    -> 200 {"code": "200", "msg": "success",
            "result": {"total": T, "pageNum": N, "pageSize": M, "pages": P, "records": [...]}}

Records are in emission order and only ever appended, so page N is stable; a client re-reads
its last (short) page to pick up records added since.

Record fields (camelCase): ``clueId`` (source key), ``clueVersion``, ``clueStatus``
(``new``/``verifying``/``confirmed``/``dismissed``/``closed``) + ``clueStatusName``,
``updateTime`` and ``findTime`` ``yyyy-MM-dd'T'HH:mm:ss`` (China Standard Time, no offset),
``orgName`` hospital, ``orgCreditCode`` its USCC (public institution, ``12...``), ``areaCode``,
``bedCount``, ``wasteType``, ``indicatorCode``/``indicatorName``, ``thresholdValue``,
``actualValue`` (JSON numbers) and ``unit``, ``riskScore`` (integer 0-100: the standard
score is ``riskScore / 100``), ``riskLevel`` ``高``/``中``/``低`` (high / medium / low),
``riskType`` {``code``, ``name``}, ``itemCode`` (matched supervision item, 14 digits),
``manifestNo`` (transfer manifest, manifest-gap clues only), ``clueDesc``, ``remark``.

Ledger: one entry per clue version when it is appended; ``position`` = its 1-based row number.
Defects: see :mod:`ops.simulators.clues` (``gb18030_in_utf8`` does not apply: JSON).
"""

from __future__ import annotations

from fastapi import FastAPI, Header, Query

from ops.simulators.base import fmt, token_cli
from ops.simulators.cases import SimEvent
from ops.simulators.clues import LEVEL_NAMES, STATUS_NAMES, ClueGenerator
from ops.simulators.lifecycle import GeneratedHttpSimulator
from ops.simulators.paging import add_health, page_window, require_bearer

ISO = "%Y-%m-%dT%H:%M:%S"


class MedicalWasteSimulator(GeneratedHttpSimulator):
    system = "risk_medical_waste"
    department_code = "330000WJW"

    def __init__(self, *args, token: str = "yf-sim-token", **kw):
        self.token = token
        super().__init__(*args, **kw)

    def make_generator(self, seed, bad_ratio, duplicate_ratio, out_of_order_ratio, **kw) -> ClueGenerator:
        return ClueGenerator(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, kind="medical_waste", **kw)

    def render(self, ev: SimEvent) -> dict:
        f = ev.fields
        return {
            "clueId": f["clue_id"], "clueVersion": ev.version, "clueStatus": ev.stage,
            "clueStatusName": STATUS_NAMES[ev.stage], "updateTime": fmt(f["stage_time"], ISO),
            "findTime": fmt(f["detected_time"], ISO), "orgName": f["entity_name"],
            "orgCreditCode": f["entity_uscc"], "areaCode": f["region_code"], "bedCount": f["beds"],
            "wasteType": f["waste_kind"], "indicatorCode": f["indicator_code"],
            "indicatorName": f["indicator_name"], "thresholdValue": f["threshold"],
            "actualValue": f["observed"], "unit": f["unit"], "riskScore": round(f["score"] * 100),
            "riskLevel": LEVEL_NAMES[f["risk_level"]],
            "riskType": {"code": f["category_code"], "name": f["category_name"]},
            "itemCode": f["catalog_code"], "manifestNo": f["manifest_no"], "clueDesc": f["description"],
            "remark": f["status_note"],
        }

    def build_app(self) -> FastAPI:
        app = FastAPI(title="医疗废物智慧监管平台风险线索接口 (simulated)")

        @app.get("/openapi/v1/risk-clues")
        def clues(pageNum: int = Query(1, ge=1), pageSize: int = Query(50, ge=1, le=500),  # noqa: N803 - the system's names
                  authorization: str | None = Header(None)):
            require_bearer(authorization, self.token)
            rows, total, pages = page_window(self.rows, self.lock, pageNum, pageSize)
            return {"code": "200", "msg": "success",
                    "result": {"total": total, "pageNum": pageNum, "pageSize": pageSize,
                               "pages": pages, "records": rows}}

        add_health(app, self)
        return app


def main(argv=None) -> None:
    token_cli(MedicalWasteSimulator, "yf-sim-token",
              "Simulated medical-waste monitoring system (risk clues; HTTP JSON, page paging, bearer)", argv)


if __name__ == "__main__":
    main()
