"""Public security (公安) penalty system: HTTP JSON pull, cursor paging, bearer token.

Wire shape::

    GET /api/cases?cursor=<opaque>&limit=<1..500, default 100>
    Authorization: Bearer <token>            (401 + WWW-Authenticate: Bearer without it)
    -> 200 {"items": [...], "next_cursor": "<opaque>", "has_more": bool}
    -> 400 {"detail": "invalid cursor"} for a cursor this server never issued

Omit ``cursor`` to start from the beginning.  ``next_cursor`` is always present: it is the
position after the last item returned, so a client stores it and resumes later (new records
appear as the system keeps working); ``has_more`` says whether more are available right now.
Items are in emission order; each is one version of a case (``updated_seq``).

Item fields (pinyin abbreviations, as in the system's own database): ``ajbh`` case number
(source key), ``updated_seq`` version, ``czlx`` operation ``I``/``U``/``D``, ``ajzt`` stage
code (:data:`STAGE_CODES`) + ``ajztmc`` its name, ``hjsj`` stage time, ``ajmc`` case name,
``ajly``/``ajlymc`` case source, ``dsrlx`` party type (``1`` unit, ``2`` person), ``dsr_mc``
party name, ``dsr_zjlx`` id type (``统一社会信用代码``/``居民身份证``), ``dsr_zjhm`` party id,
``dsr_fddbr`` legal representative, ``dsr_dz`` address, ``xzqh`` region code, ``sxbm`` item
catalog code, ``ssqdbm`` implementation-list code, ``badw``/``badw_dm`` handling unit name and
credit code, ``zfry`` officers ``[{"xm": name, "zfzh": certificate}]``, ``jcbh`` inspection
number, ``wfss`` facts, ``cfyj`` legal basis, ``cxlx`` procedure (``普通程序``/``简易程序``),
``lasj`` filing time, ``gzrq`` notice date, ``jdrq`` decision date, ``jdswh`` decision number,
``cfzl``/``cfzlmc`` penalty kind, ``fkje`` fine (JSON number, yuan), ``cfjg`` result, ``zxfs``
execution mode, ``sjje`` fine paid, ``jarq`` closing date, ``ysrq`` referral date, ``yy``
stage reason, ``wsh`` stage document number.  Times ``yyyy-MM-dd HH:mm:ss``, dates
``yyyy-MM-dd`` (China Standard Time).  ``gb18030_in_utf8`` does not apply (a JSON document
cannot carry invalid UTF-8); the simulator disables it.
"""

from __future__ import annotations

import base64

from fastapi import FastAPI, Header, HTTPException, Query

from ops.simulators.base import HttpSimulator, fmt, token_cli
from ops.simulators.cases import STAGE_NAMES, SimEvent
from ops.simulators.paging import add_health, require_bearer

STAGE_CODES = {"case_source": "10", "filing": "20", "not_filed": "21", "investigation": "30",
               "suspension": "31", "resumption": "32", "notice": "40", "decision": "50",
               "execution": "60", "closing": "70", "archive": "80", "criminal_referral": "90",
               "termination": "91", "withdrawn": "99"}
DT, D = "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"


def _num(s: str | None) -> float | None:
    return None if s is None else float(s)


class PublicSecuritySimulator(HttpSimulator):
    system = "public_security"
    department_code = "330000GAT"
    agency_kind = "公安局"

    def __init__(self, *args, token: str = "ps-sim-token", **kw):
        self.token = token
        super().__init__(*args, **kw)

    def render(self, ev: SimEvent) -> dict:
        f = ev.fields
        person = f["party_type"] == "person"
        return {
            "ajbh": f["case_number"], "updated_seq": ev.version, "czlx": ev.operation.upper(),
            "ajzt": STAGE_CODES[ev.stage], "ajztmc": STAGE_NAMES[ev.stage],
            "hjsj": fmt(f["stage_time"], DT), "ajmc": f["penalty_name"],
            "ajly": f["case_source_code"], "ajlymc": f["case_source_name"],
            "dsrlx": "2" if person else "1", "dsr_mc": f["party_name"],
            "dsr_zjlx": "居民身份证" if person else "统一社会信用代码", "dsr_zjhm": f["party_id"],
            "dsr_fddbr": f["party_legal_rep"], "dsr_dz": f["party_address"],
            "xzqh": f["region_code"], "sxbm": f["catalog_code"], "ssqdbm": f["implementation_code"],
            "badw": f["agency_name"], "badw_dm": f["agency_uscc"],
            "zfry": [{"xm": f["officer1_name"], "zfzh": f["officer1_cert"]},
                     {"xm": f["officer2_name"], "zfzh": f["officer2_cert"]}],
            "jcbh": f["inspection_number"], "wfss": f["facts"], "cfyj": f["legal_basis"],
            "cxlx": "简易程序" if f["procedure"] == "simple" else "普通程序",
            "lasj": fmt(f["filing_time"], DT), "gzrq": fmt(f["notice_date"], D),
            "jdrq": fmt(f["decision_date"], D), "jdswh": f["decision_number"],
            "cfzl": f["penalty_kind_code"], "cfzlmc": f["penalty_kind_name"],
            "fkje": _num(f["fine_amount"]), "cfjg": f["penalty_result"],
            "zxfs": f["execution_mode"], "sjje": _num(f["fine_paid"]),
            "jarq": fmt(f["closing_date"], D), "ysrq": fmt(f["referral_date"], D),
            "yy": f["stage_reason"], "wsh": f["stage_document_number"],
        }

    @staticmethod
    def encode_cursor(offset: int) -> str:
        return base64.urlsafe_b64encode(f"ps:{offset}".encode()).decode()

    @staticmethod
    def decode_cursor(cursor: str) -> int:
        try:
            tag, off = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
            if tag != "ps" or int(off) < 0:
                raise ValueError(cursor)
            return int(off)
        except Exception as exc:  # noqa: BLE001 - any undecodable cursor is the client's error
            raise HTTPException(400, "invalid cursor") from exc

    def build_app(self) -> FastAPI:
        app = FastAPI(title="公安行政处罚案件接口 (simulated)")

        @app.get("/api/cases")
        def cases(cursor: str | None = None, limit: int = Query(100, ge=1, le=500),
                  authorization: str | None = Header(None)):
            require_bearer(authorization, self.token)
            start = self.decode_cursor(cursor) if cursor else 0
            with self.lock:
                items = self.rows[start:start + limit]
                end = start + len(items)
                more = end < len(self.rows)
            return {"items": items, "next_cursor": self.encode_cursor(end), "has_more": more}

        add_health(app, self)
        return app


def main(argv=None) -> None:
    token_cli(PublicSecuritySimulator, "ps-sim-token",
              "Simulated public-security penalty system (HTTP JSON, cursor paging, bearer token)", argv)


if __name__ == "__main__":
    main()
