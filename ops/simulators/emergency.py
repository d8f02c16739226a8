"""Emergency management (应急管理) penalty system: CSV file drops in GB18030.

Every :meth:`EmergencySimulator.emit` writes one batch file into the drop directory::

    <dir>/YJ_XZCF_<yyyyMMddHHmmss>_<batch:05d>.csv

written as ``.<name>.tmp`` and renamed (``os.replace``) once complete, so a poller that
ignores dot-files never sees half a file.  Encoding GB18030 (no BOM), comma-delimited,
``\\r\\n`` line ends, one header row, minimal quoting (csv module, ``excel`` dialect).  An
empty cell is a missing value.

Columns (:data:`COLUMNS`): 案件编号 (source key), 版本号, 操作类型 (新增/修改/删除), 案件环节
(Chinese stage name, see ``cases.STAGE_NAMES``), 环节时间 ``yyyy/MM/dd HH:mm``, 案件名称, 案件来源,
当事人类型 (单位/个人), 当事人名称, 统一社会信用代码 (units), 身份证号码 (persons), 法定代表人,
当事人地址, 行政区划代码, 监管事项编码, 实施清单编码, 执法机关, 执法机关代码, 执法人员1, 执法证号1,
执法人员2, 执法证号2, 检查编号, 违法事实, 处罚依据, 程序类型, dates ``yyyy/MM/dd``: 立案日期,
告知日期, 处罚决定日期, 结案日期, 移送日期; 决定书文号, 处罚种类, 罚款金额(元), 处罚结果,
执行方式, 实缴金额(元), 原因说明, 环节文书号.

``gb18030_in_utf8`` does not apply as such (the feed *is* GB18030); this system's encoding
defects are not simulated.
"""

from __future__ import annotations

from ops.simulators.base import Simulator, fmt
from ops.simulators.cases import STAGE_NAMES, SimEvent
from ops.simulators.drops import CsvFileDrop, drop_cli

COLUMNS = ["案件编号", "版本号", "操作类型", "案件环节", "环节时间", "案件名称", "案件来源", "当事人类型",
           "当事人名称", "统一社会信用代码", "身份证号码", "法定代表人", "当事人地址", "行政区划代码",
           "监管事项编码", "实施清单编码", "执法机关", "执法机关代码", "执法人员1", "执法证号1",
           "执法人员2", "执法证号2", "检查编号", "违法事实", "处罚依据", "程序类型", "立案日期",
           "告知日期", "处罚决定日期", "结案日期", "移送日期", "决定书文号", "处罚种类", "罚款金额(元)",
           "处罚结果", "执行方式", "实缴金额(元)", "原因说明", "环节文书号"]
OPS = {"i": "新增", "u": "修改", "d": "删除"}
D, DT = "%Y/%m/%d", "%Y/%m/%d %H:%M"


class EmergencySimulator(CsvFileDrop, Simulator):
    system = "emergency"
    department_code = "330000YJT"
    agency_kind = "应急管理局"
    encoding = "gb18030"
    file_prefix = "YJ_XZCF"
    columns = COLUMNS
    temp_prefix = "emergency-drop-"
    default_batch_size = 50

    def row(self, ev: SimEvent) -> list[str]:
        f = ev.fields
        person = f["party_type"] == "person"
        vals = [f["case_number"], ev.version, OPS[ev.operation], STAGE_NAMES[ev.stage],
                fmt(f["stage_time"], DT), f["penalty_name"], f["case_source_name"],
                "个人" if person else "单位", f["party_name"], None if person else f["party_id"],
                f["party_id"] if person else None, f["party_legal_rep"], f["party_address"],
                f["region_code"], f["catalog_code"], f["implementation_code"], f["agency_name"],
                f["agency_uscc"], f["officer1_name"], f["officer1_cert"], f["officer2_name"],
                f["officer2_cert"], f["inspection_number"], f["facts"], f["legal_basis"],
                "简易程序" if f["procedure"] == "simple" else "普通程序", fmt(f["filing_date"], D),
                fmt(f["notice_date"], D), fmt(f["decision_date"], D), fmt(f["closing_date"], D),
                fmt(f["referral_date"], D), f["decision_number"], f["penalty_kind_name"],
                f["fine_amount"], f["penalty_result"], f["execution_mode"], f["fine_paid"],
                f["stage_reason"], f["stage_document_number"]]
        return ["" if v is None else str(v) for v in vals]


def main(argv=None) -> None:
    drop_cli(EmergencySimulator, "Simulated emergency-management penalty system (GB18030 CSV file drops)", argv)


if __name__ == "__main__":
    main()
