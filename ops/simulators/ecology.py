"""Ecology & environment (生态环境) penalty system: a SQL table polled by ``updated_at`` + id.

Table ``hb_xzcf_case`` (default name), one row per case version::

    id INTEGER PRIMARY KEY (autoincrement)     -- poll with (updated_at, id) > (last_ts, last_id)
    case_code VARCHAR(64)  row_version INTEGER  op_flag CHAR(1) 'I'/'U'/'D'
    stage VARCHAR(32) (standard stage symbol)  stage_time TIMESTAMP
    case_name, source_type (name), party_category '法人'/'自然人', violator_name,
    violator_id_type '统一社会信用代码'/'居民身份证', violator_id_no, legal_rep, violator_address,
    division_code (region), matter_code (catalog), checklist_code (implementation list),
    org_name, org_credit_code, officer_names 'a,b', officer_cert_nos 'x,y' (parallel lists),
    inspection_no, violation_facts, legal_basis, procedure_type 'ordinary'/'simple',
    filed_on, notified_on, decided_on, closed_on, transferred_on (DATE), decision_doc_no,
    penalty_type (name), fine_yuan NUMERIC(18,2), paid_yuan NUMERIC(18,2), result,
    execution_way, remark (stage reason), doc_no, updated_at TIMESTAMP (indexed, increasing)

How re-sends look here: a ``duplicate`` *touches* the existing row (``updated_at`` moves on,
nothing else changes), so a poller sees the same (case_code, row_version) again; an
``out_of_order`` re-send is a new row (new id, newer ``updated_at``) carrying an older
version.  ``gb18030_in_utf8`` does not apply (the database stores text, not bytes).
"""

from __future__ import annotations

import sqlalchemy as sa

from ops.simulators.cases import SimEvent
from ops.simulators.sqlsim import SqlSimulator, decimal, insert, sql_cli


class EcologySimulator(SqlSimulator):
    system = "ecology"
    department_code = "330000STJ"
    agency_kind = "生态环境分局"
    table_name = "hb_xzcf_case"

    def define_table(self, metadata: sa.MetaData) -> sa.Table:
        s = sa.String
        return sa.Table(
            self.table_name, metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("case_code", s(64), nullable=False), sa.Column("row_version", sa.Integer),
            sa.Column("op_flag", s(1)), sa.Column("stage", s(32)), sa.Column("stage_time", sa.DateTime),
            sa.Column("case_name", s(200)), sa.Column("source_type", s(32)),
            sa.Column("party_category", s(16)), sa.Column("violator_name", s(200)),
            sa.Column("violator_id_type", s(32)), sa.Column("violator_id_no", s(64)),
            sa.Column("legal_rep", s(64)), sa.Column("violator_address", s(200)),
            sa.Column("division_code", s(12)), sa.Column("matter_code", s(32)),
            sa.Column("checklist_code", s(64)), sa.Column("org_name", s(100)),
            sa.Column("org_credit_code", s(32)), sa.Column("officer_names", s(100)),
            sa.Column("officer_cert_nos", s(100)), sa.Column("inspection_no", s(64)),
            sa.Column("violation_facts", sa.Text), sa.Column("legal_basis", sa.Text),
            sa.Column("procedure_type", s(16)), sa.Column("filed_on", sa.Date),
            sa.Column("notified_on", sa.Date), sa.Column("decided_on", sa.Date),
            sa.Column("closed_on", sa.Date), sa.Column("transferred_on", sa.Date),
            sa.Column("decision_doc_no", s(100)), sa.Column("penalty_type", s(32)),
            sa.Column("fine_yuan", sa.Numeric(18, 2)), sa.Column("paid_yuan", sa.Numeric(18, 2)),
            sa.Column("result", sa.Text), sa.Column("execution_way", s(32)),
            sa.Column("remark", sa.Text), sa.Column("doc_no", s(100)),
            sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
        )

    def row(self, ev: SimEvent) -> dict:
        f = ev.fields
        person = f["party_type"] == "person"
        return {
            "case_code": f["case_number"], "row_version": ev.version,
            "op_flag": ev.operation.upper(), "stage": ev.stage, "stage_time": f["stage_time"],
            "case_name": f["penalty_name"], "source_type": f["case_source_name"],
            "party_category": "自然人" if person else "法人", "violator_name": f["party_name"],
            "violator_id_type": "居民身份证" if person else "统一社会信用代码",
            "violator_id_no": f["party_id"], "legal_rep": f["party_legal_rep"],
            "violator_address": f["party_address"], "division_code": f["region_code"],
            "matter_code": f["catalog_code"], "checklist_code": f["implementation_code"],
            "org_name": f["agency_name"], "org_credit_code": f["agency_uscc"],
            "officer_names": f"{f['officer1_name']},{f['officer2_name']}",
            "officer_cert_nos": f"{f['officer1_cert']},{f['officer2_cert']}",
            "inspection_no": f["inspection_number"], "violation_facts": f["facts"],
            "legal_basis": f["legal_basis"], "procedure_type": f["procedure"],
            "filed_on": f["filing_date"], "notified_on": f["notice_date"],
            "decided_on": f["decision_date"], "closed_on": f["closing_date"],
            "transferred_on": f["referral_date"], "decision_doc_no": f["decision_number"],
            "penalty_type": f["penalty_kind_name"], "fine_yuan": decimal(f["fine_amount"]),
            "paid_yuan": decimal(f["fine_paid"]), "result": f["penalty_result"],
            "execution_way": f["execution_mode"], "remark": f["stage_reason"],
            "doc_no": f["stage_document_number"],
        }

    def write(self, conn: sa.Connection, events: list[SimEvent]) -> None:
        t = self.table
        for ev in events:
            ts = self.clock()
            if ev.defect == "duplicate":
                row_id = conn.execute(
                    sa.select(sa.func.max(t.c.id)).where(t.c.case_code == ev.source_key,
                                                         t.c.row_version == ev.version)).scalar()
                if row_id is not None:
                    conn.execute(t.update().where(t.c.id == row_id).values(updated_at=ts))
                    self.ledger.record(ev, position=f"id={row_id}")
                    continue
            row_id = insert(conn, t, **self.row(ev), updated_at=ts)
            self.ledger.record(ev, position=f"id={row_id}")


def main(argv=None) -> None:
    sql_cli(EcologySimulator, "Simulated ecology & environment penalty system (SQL table polled by updated_at)",
            argv)


if __name__ == "__main__":
    main()
