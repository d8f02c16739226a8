"""Drug administration (药品监管) penalty system: the national upload-table convention.

Table ``t_xzcf_upload`` (default name), append-only, one row per uploaded case version::

    cd_id INTEGER PRIMARY KEY (autoincrement)  -- upload row id
    xzcf_id VARCHAR(64)      department-side primary key (case number = source key)
    bbh INTEGER              version of the case row
    cd_operation CHAR(1)     'I' insert, 'U' update, 'D' delete (withdrawal of the case)
    cd_batch VARCHAR(13)     upload batch: yyyyMMdd + 5-digit sequence, e.g. 2019041100002
    cd_time TIMESTAMP        upload time
    cd_source VARCHAR(16)    '330000' + department code
    ajmc, hj (standard stage symbol), hjsj TIMESTAMP, xdr_lb '法人及非法人组织'/'自然人',
    xdr_mc, xdr_zjlx '001' credit code / '111' resident ID, xdr_zjhm, fddbr, xdr_dz, xzqh,
    sxbm, ssqdbm, cfjg (agency name), cfjgdm, zfryxm 'a|b', zfzh 'x|y' (parallel lists),
    jcbh, wfss, cfyj, cxlx '1' ordinary / '2' simple, larq, gzrq, jdrq, jarq, ysrq (DATE),
    jdwsh, cfzl (kind code), fkje, sjje NUMERIC(18,2), cfnr, zxfs, yy, wsh

Each :meth:`tick` is one batch (one transaction, one ``cd_batch``); a consumer reads whole
batches in ``cd_batch`` order.  ``duplicate`` and ``out_of_order`` re-sends are re-uploads:
new rows in a later batch carrying an already uploaded (xzcf_id, bbh).  About 2 % of finished
cases are later withdrawn with a ``D`` row (a new version).  ``gb18030_in_utf8`` does not apply.
"""

from __future__ import annotations

import sqlalchemy as sa

from ops.simulators.cases import SimEvent
from ops.simulators.sqlsim import SqlSimulator, decimal, insert, sql_cli
from schemas.codes import make_batch


class DrugAdminSimulator(SqlSimulator):
    system = "drug_admin"
    department_code = "330000YJJ"
    agency_kind = "市场监督管理局（药品）"
    table_name = "t_xzcf_upload"
    delete_ratio = 0.02

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.batch_seq = 0

    def define_table(self, metadata: sa.MetaData) -> sa.Table:
        s, d = sa.String, sa.Date
        cols = [sa.Column("cd_id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("xzcf_id", s(64), nullable=False), sa.Column("bbh", sa.Integer),
                sa.Column("cd_operation", s(1), nullable=False),
                sa.Column("cd_batch", s(13), nullable=False, index=True),
                sa.Column("cd_time", sa.DateTime, nullable=False), sa.Column("cd_source", s(16)),
                sa.Column("hjsj", sa.DateTime)]
        cols += [sa.Column(n, s(200)) for n in (
            "ajmc", "hj", "xdr_lb", "xdr_mc", "xdr_zjlx", "xdr_zjhm", "fddbr", "xdr_dz", "xzqh",
            "sxbm", "ssqdbm", "cfjg", "cfjgdm", "zfryxm", "zfzh", "jcbh", "cxlx", "jdwsh", "cfzl",
            "zxfs", "wsh")]
        cols += [sa.Column(n, sa.Text) for n in ("wfss", "cfyj", "cfnr", "yy")]
        cols += [sa.Column(n, d) for n in ("larq", "gzrq", "jdrq", "jarq", "ysrq")]
        cols += [sa.Column(n, sa.Numeric(18, 2)) for n in ("fkje", "sjje")]
        return sa.Table(self.table_name, metadata, *cols)

    def row(self, ev: SimEvent) -> dict:
        f = ev.fields
        person = f["party_type"] == "person"
        return {
            "xzcf_id": f["case_number"], "bbh": ev.version, "cd_operation": ev.operation.upper(),
            "cd_source": f"330000{self.department_code[6:]}", "hjsj": f["stage_time"],
            "ajmc": f["penalty_name"], "hj": ev.stage,
            "xdr_lb": "自然人" if person else "法人及非法人组织", "xdr_mc": f["party_name"],
            "xdr_zjlx": "111" if person else "001", "xdr_zjhm": f["party_id"],
            "fddbr": f["party_legal_rep"], "xdr_dz": f["party_address"], "xzqh": f["region_code"],
            "sxbm": f["catalog_code"], "ssqdbm": f["implementation_code"],
            "cfjg": f["agency_name"], "cfjgdm": f["agency_uscc"],
            "zfryxm": f"{f['officer1_name']}|{f['officer2_name']}",
            "zfzh": f"{f['officer1_cert']}|{f['officer2_cert']}", "jcbh": f["inspection_number"],
            "cxlx": "2" if f["procedure"] == "simple" else "1", "jdwsh": f["decision_number"],
            "cfzl": f["penalty_kind_code"], "zxfs": f["execution_mode"],
            "wsh": f["stage_document_number"], "wfss": f["facts"], "cfyj": f["legal_basis"],
            "cfnr": f["penalty_result"], "yy": f["stage_reason"], "larq": f["filing_date"],
            "gzrq": f["notice_date"], "jdrq": f["decision_date"], "jarq": f["closing_date"],
            "ysrq": f["referral_date"], "fkje": decimal(f["fine_amount"]), "sjje": decimal(f["fine_paid"]),
        }

    def write(self, conn: sa.Connection, events: list[SimEvent]) -> None:
        if not events:
            return
        self.batch_seq += 1
        now = self.clock()
        batch = make_batch(now.date(), self.batch_seq % 100000)
        for ev in events:
            row_id = insert(conn, self.table, **self.row(ev), cd_batch=batch, cd_time=now)
            self.ledger.record(ev, position=f"{batch}/{row_id}")


def main(argv=None) -> None:
    sql_cli(DrugAdminSimulator,
            "Simulated drug-administration penalty system (national upload table, cd_batch/cd_operation)",
            argv)


if __name__ == "__main__":
    main()
