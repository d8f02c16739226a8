"""Natural resources (自然资源) penalty system: daily XML batch files in a drop directory.

Every :meth:`NaturalResourcesSimulator.emit` is one day's batch, written atomically
(``.<name>.tmp`` then ``os.replace``) as ``ZRZY_XZCF_<yyyyMMdd>_<seq:03d>.xml``::

    <?xml version='1.0' encoding='UTF-8'?>
    <xzcfBatch xmlns="urn:zj:zrzy:xzcf:1.0" batchNo="20261129001" batchDate="2026-11-29" count="N">
      <case caseNo="..." version="3" op="U">           <!-- op I / U / D -->
        <stage code="filing" time="2025-02-12T14:11:32">立案</stage>
        <caseName/> <caseSource/> <region/> <itemCode/> <implCode/>
        <agency code="<credit code>">name</agency>
        <party type="enterprise|person"><name/><idType>USCC|RID</idType><idNumber/>
               <legalRep/><address/></party>
        <officers><officer cert="...">name</officer> x2</officers>
        <inspectionNo/> <facts/> <legalBasis/> <procedure>ordinary|simple</procedure>
        <filingDate/> <noticeDate/> <decisionDate/> <decisionNo/> <penaltyKind code="02">罚款</penaltyKind>
        <fineAmount/> <result/> <executionMode/> <finePaid/> <closingDate/> <referralDate/>
        <reason/> <documentNo/>
      </case> ...
    </xzcfBatch>

Dates ``yyyy-MM-dd``, times ISO 8601 local (China Standard Time); an absent value is an
absent element.  Generated with ``xml.etree.ElementTree``.

``gb18030_in_utf8`` applies **per file**: a record with that defect is written alone into its
own file ``ZRZY_XZCF_<date>_<seq>.xml`` whose bytes are GB18030 while the XML declaration says
UTF-8, so a strict parser rejects the file -- and with it exactly that one record (reason
``encoding``).  Every other record of the batch is in the batch's regular file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ops.simulators.base import Simulator, fmt, now_cst
from ops.simulators.cases import ALL_DEFECTS, STAGE_NAMES, SimEvent
from ops.simulators.drops import FileDrop, drop_cli

NS = "urn:zj:zrzy:xzcf:1.0"
D = "%Y-%m-%d"


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


class NaturalResourcesSimulator(FileDrop, Simulator):
    system = "natural_resources"
    department_code = "330000ZRT"
    agency_kind = "自然资源和规划局"
    defects = ALL_DEFECTS

    temp_prefix = "natres-drop-"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.file_seq = 0

    def element(self, ev: SimEvent) -> ET.Element:
        f = ev.fields
        case = ET.Element(_q("case"), caseNo=f["case_number"], version=str(ev.version),
                          op=ev.operation.upper())

        def sub(parent, tag, text=None, **attrs):
            attrs = {k: v for k, v in attrs.items() if v is not None}
            if text is None and not attrs:
                return None
            el = ET.SubElement(parent, _q(tag), attrs)
            if text is not None:
                el.text = str(text)
            return el

        sub(case, "stage", STAGE_NAMES[ev.stage], code=ev.stage,
            time=f["stage_time"].isoformat(timespec="seconds"))
        for tag, key in (("caseName", "penalty_name"), ("caseSource", "case_source_name"),
                         ("region", "region_code"), ("itemCode", "catalog_code"),
                         ("implCode", "implementation_code")):
            sub(case, tag, f[key])
        sub(case, "agency", f["agency_name"], code=f["agency_uscc"])
        party = ET.SubElement(case, _q("party"), type=f["party_type"])
        sub(party, "name", f["party_name"])
        sub(party, "idType", "RID" if f["party_type"] == "person" else "USCC")
        sub(party, "idNumber", f["party_id"])
        sub(party, "legalRep", f["party_legal_rep"])
        sub(party, "address", f["party_address"])
        officers = ET.SubElement(case, _q("officers"))
        for i in (1, 2):
            sub(officers, "officer", f[f"officer{i}_name"], cert=f[f"officer{i}_cert"])
        for tag, key in (("inspectionNo", "inspection_number"), ("facts", "facts"),
                         ("legalBasis", "legal_basis"), ("procedure", "procedure")):
            sub(case, tag, f[key])
        for tag, key in (("filingDate", "filing_date"), ("noticeDate", "notice_date"),
                         ("decisionDate", "decision_date")):
            sub(case, tag, fmt(f[key], D))
        sub(case, "decisionNo", f["decision_number"])
        sub(case, "penaltyKind", f["penalty_kind_name"], code=f["penalty_kind_code"])
        for tag, key in (("fineAmount", "fine_amount"), ("result", "penalty_result"),
                         ("executionMode", "execution_mode"), ("finePaid", "fine_paid")):
            sub(case, tag, f[key])
        for tag, key in (("closingDate", "closing_date"), ("referralDate", "referral_date")):
            sub(case, tag, fmt(f[key], D))
        sub(case, "reason", f["stage_reason"])
        sub(case, "documentNo", f["stage_document_number"])
        return case

    def publish(self, events: list[SimEvent]) -> None:
        regular = [e for e in events if e.defect != "gb18030_in_utf8"]
        if regular:
            self._write(regular, "utf-8")
        for ev in events:
            if ev.defect == "gb18030_in_utf8":
                self._write([ev], "gb18030")

    def _write(self, events: list[SimEvent], encoding: str) -> None:
        ET.register_namespace("", NS)
        self.file_seq += 1
        day = now_cst()
        batch_no = f"{day:%Y%m%d}{self.file_seq:03d}"
        root = ET.Element(_q("xzcfBatch"), batchNo=batch_no, batchDate=f"{day:%Y-%m-%d}",
                          count=str(len(events)))
        root.extend(self.element(ev) for ev in events)
        ET.indent(root)
        body = ET.tostring(root, encoding="unicode")
        data = b"<?xml version='1.0' encoding='UTF-8'?>\n" + body.encode(encoding)
        name = f"ZRZY_XZCF_{day:%Y%m%d}_{self.file_seq:03d}.xml"
        self.drop(name, data)
        for i, ev in enumerate(events, start=1):
            self.ledger.record(ev, position=f"{name}#{i}")


def main(argv=None) -> None:
    drop_cli(NaturalResourcesSimulator, "Simulated natural-resources penalty system (daily XML batch files)", argv)


if __name__ == "__main__":
    main()
