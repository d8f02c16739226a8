"""Taxation (税务) penalty system: a SOAP 1.1 / XML web service (document/literal).

Wire shape::

    GET  /ws/PenaltyQueryService?wsdl   -> the WSDL (service, binding, operation QueryCases)
    POST /ws/PenaltyQueryService        SOAPAction: "QueryCases", Content-Type: text/xml
         <soap:Envelope><soap:Body>
           <tax:QueryCases><tax:startSeq>0</tax:startSeq><tax:maxCount>100</tax:maxCount></tax:QueryCases>
         </soap:Body></soap:Envelope>
      -> <tax:QueryCasesResponse><tax:nextSeq>N</tax:nextSeq><tax:hasMore>true|false</tax:hasMore>
           <tax:cases><tax:case>...</tax:case>...</tax:cases></tax:QueryCasesResponse>
      -> a soap:Fault (HTTP 500) for a malformed request

``startSeq`` is the 0-based position in emission order; keep ``nextSeq`` to resume.
Namespace ``tax`` = :data:`NS`.  ``case`` children, in this order (absent = no value):
``ajbh`` case number, ``bbh`` version, ``czlx`` I/U/D, ``hj`` stage symbol, ``hjsj``
xs:dateTime (local), ``ajmc``, ``ajly``, ``nsrlx`` 单位/个人, ``nsrmc`` taxpayer name,
``nsrsbh`` taxpayer id (credit code or resident ID), ``fddbr``, ``dz``, ``xzqh``, ``sxbm``,
``ssqdbm``, ``swjg``/``swjgdm`` tax office, ``zfry1``/``zfzh1``/``zfry2``/``zfzh2`` officers,
``jcbh``, ``wfss``, ``cfyj``, ``cxlx``, ``larq``/``gzrq``/``jdrq``/``jarq``/``ysrq`` xs:date,
``jdswh``, ``cfzl``, ``fkje``/``sjje`` xs:decimal, ``cfjg`` result, ``zxfs``, ``yy``, ``wsh``.
``gb18030_in_utf8`` is not simulated here (it would break the whole SOAP response).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml.ElementTree import fromstring as safe_fromstring
from fastapi import FastAPI, Request, Response

from ops.simulators.base import HttpSimulator, cli, fmt
from ops.simulators.cases import SimEvent

NS = "http://tax.zj.gov.cn/penalty/ws"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
PATH = "/ws/PenaltyQueryService"
D = "%Y-%m-%d"
#: (element, XSD type) of a case, in schema order.
CASE_FIELDS = [("ajbh", "string"), ("bbh", "int"), ("czlx", "string"), ("hj", "string"),
               ("hjsj", "dateTime"), ("ajmc", "string"), ("ajly", "string"), ("nsrlx", "string"),
               ("nsrmc", "string"), ("nsrsbh", "string"), ("fddbr", "string"), ("dz", "string"),
               ("xzqh", "string"), ("sxbm", "string"), ("ssqdbm", "string"), ("swjg", "string"),
               ("swjgdm", "string"), ("zfry1", "string"), ("zfzh1", "string"), ("zfry2", "string"),
               ("zfzh2", "string"), ("jcbh", "string"), ("wfss", "string"), ("cfyj", "string"),
               ("cxlx", "string"), ("larq", "date"), ("gzrq", "date"), ("jdrq", "date"),
               ("jarq", "date"), ("ysrq", "date"), ("jdswh", "string"), ("cfzl", "string"),
               ("fkje", "decimal"), ("sjje", "decimal"), ("cfjg", "string"), ("zxfs", "string"),
               ("yy", "string"), ("wsh", "string")]


def wsdl(url: str) -> str:
    elems = "\n".join(f'<xs:element name="{n}" type="xs:{t}"' + ("" if n in ("ajbh", "bbh") else ' minOccurs="0"') + "/>"
                      for n, t in CASE_FIELDS)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
  xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tax="{NS}" targetNamespace="{NS}" name="PenaltyQueryService">
<types><xs:schema targetNamespace="{NS}" elementFormDefault="qualified">
<xs:complexType name="Case"><xs:sequence>
{elems}
</xs:sequence></xs:complexType>
<xs:element name="QueryCases"><xs:complexType><xs:sequence>
<xs:element name="startSeq" type="xs:int"/><xs:element name="maxCount" type="xs:int"/>
</xs:sequence></xs:complexType></xs:element>
<xs:element name="QueryCasesResponse"><xs:complexType><xs:sequence>
<xs:element name="nextSeq" type="xs:int"/><xs:element name="hasMore" type="xs:boolean"/>
<xs:element name="cases"><xs:complexType><xs:sequence>
<xs:element name="case" type="tax:Case" minOccurs="0" maxOccurs="unbounded"/>
</xs:sequence></xs:complexType></xs:element>
</xs:sequence></xs:complexType></xs:element>
</xs:schema></types>
<message name="QueryCasesIn"><part name="parameters" element="tax:QueryCases"/></message>
<message name="QueryCasesOut"><part name="parameters" element="tax:QueryCasesResponse"/></message>
<portType name="PenaltyQueryPort"><operation name="QueryCases">
<input message="tax:QueryCasesIn"/><output message="tax:QueryCasesOut"/></operation></portType>
<binding name="PenaltyQueryBinding" type="tax:PenaltyQueryPort">
<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
<operation name="QueryCases"><soap:operation soapAction="QueryCases"/>
<input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation>
</binding>
<service name="PenaltyQueryService"><port name="PenaltyQueryPort" binding="tax:PenaltyQueryBinding">
<soap:address location="{url}"/></port></service>
</definitions>"""


def _envelope(body: ET.Element) -> bytes:
    env = ET.Element(f"{{{SOAP}}}Envelope")
    ET.SubElement(env, f"{{{SOAP}}}Body").append(body)
    return ET.tostring(env, encoding="utf-8", xml_declaration=True)


def _fault(msg: str) -> Response:
    fault = ET.Element(f"{{{SOAP}}}Fault")
    ET.SubElement(fault, "faultcode").text = "soap:Client"
    ET.SubElement(fault, "faultstring").text = msg
    return Response(_envelope(fault), status_code=500, media_type="text/xml; charset=utf-8")


class TaxationSimulator(HttpSimulator):
    system = "taxation"
    department_code = "330000SWJ"
    agency_kind = "税务局"

    def render(self, ev: SimEvent) -> dict:
        f = ev.fields
        person = f["party_type"] == "person"
        return {
            "ajbh": f["case_number"], "bbh": ev.version, "czlx": ev.operation.upper(),
            "hj": ev.stage, "hjsj": f["stage_time"].isoformat(timespec="seconds"),
            "ajmc": f["penalty_name"], "ajly": f["case_source_name"],
            "nsrlx": "个人" if person else "单位", "nsrmc": f["party_name"], "nsrsbh": f["party_id"],
            "fddbr": f["party_legal_rep"], "dz": f["party_address"], "xzqh": f["region_code"],
            "sxbm": f["catalog_code"], "ssqdbm": f["implementation_code"], "swjg": f["agency_name"],
            "swjgdm": f["agency_uscc"], "zfry1": f["officer1_name"], "zfzh1": f["officer1_cert"],
            "zfry2": f["officer2_name"], "zfzh2": f["officer2_cert"], "jcbh": f["inspection_number"],
            "wfss": f["facts"], "cfyj": f["legal_basis"],
            "cxlx": "简易程序" if f["procedure"] == "simple" else "一般程序",
            "larq": fmt(f["filing_date"], D), "gzrq": fmt(f["notice_date"], D),
            "jdrq": fmt(f["decision_date"], D), "jarq": fmt(f["closing_date"], D),
            "ysrq": fmt(f["referral_date"], D), "jdswh": f["decision_number"],
            "cfzl": f["penalty_kind_name"], "fkje": f["fine_amount"], "sjje": f["fine_paid"],
            "cfjg": f["penalty_result"], "zxfs": f["execution_mode"], "yy": f["stage_reason"],
            "wsh": f["stage_document_number"],
        }

    def build_app(self) -> FastAPI:
        app = FastAPI(title="税务行政处罚查询服务 (simulated SOAP)")

        @app.get(PATH)
        def get_wsdl(request: Request):
            if "wsdl" not in {k.lower() for k in request.query_params}:
                return Response("append ?wsdl", media_type="text/plain")
            return Response(wsdl(f"{self.url}{PATH}"), media_type="text/xml; charset=utf-8")

        @app.post(PATH)
        async def query(request: Request):
            try:
                root = safe_fromstring(await request.body())
                q = root.find(f"{{{SOAP}}}Body/{{{NS}}}QueryCases")
                start = int(q.findtext(f"{{{NS}}}startSeq"))
                count = min(int(q.findtext(f"{{{NS}}}maxCount")), 1000)
                if start < 0 or count < 1:
                    raise ValueError("startSeq >= 0 and maxCount >= 1")
            except Exception as exc:  # noqa: BLE001 - any malformed request is a client fault
                return _fault(f"malformed QueryCases request: {type(exc).__name__}")
            with self.lock:
                rows = self.rows[start:start + count]
                more = start + len(rows) < len(self.rows)
            resp = ET.Element(f"{{{NS}}}QueryCasesResponse")
            ET.SubElement(resp, f"{{{NS}}}nextSeq").text = str(start + len(rows))
            ET.SubElement(resp, f"{{{NS}}}hasMore").text = "true" if more else "false"
            cases = ET.SubElement(resp, f"{{{NS}}}cases")
            for row in rows:
                case = ET.SubElement(cases, f"{{{NS}}}case")
                for name, _ in CASE_FIELDS:
                    if row[name] is not None:
                        ET.SubElement(case, f"{{{NS}}}{name}").text = str(row[name])
            return Response(_envelope(resp), media_type="text/xml; charset=utf-8")

        return app


def main(argv=None) -> None:
    cli(lambda a: TaxationSimulator(a.seed, a.count, bad_ratio=a.bad_ratio, ledger_path=a.ledger,
                                    port=a.port),
        "Simulated taxation penalty system (SOAP/XML web service with WSDL)", argv=argv)


if __name__ == "__main__":
    main()
