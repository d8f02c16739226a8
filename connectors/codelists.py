"""National code lists the mappers translate into (code + name), as data.

Source systems often send only the name (税务: ``ajly`` = "投诉举报"); :func:`by_name`
finds the code. Lists follow the provincial upload specifications (DESIGN §7).
"""

from __future__ import annotations

CASE_SOURCES = {"01": "监督检查", "02": "投诉举报", "03": "其他部门移送", "04": "上级交办",
                "05": "风险预警", "06": "媒体曝光"}
PENALTY_KINDS = {"01": "警告", "02": "罚款", "03": "没收违法所得", "04": "没收非法财物",
                 "05": "暂扣许可证件", "06": "降低资质等级", "07": "吊销许可证件", "08": "责令停产停业",
                 "09": "责令关闭", "10": "限制从业", "11": "行政拘留", "99": "其他"}
EXECUTION_MODES = {"01": "自觉履行", "02": "强制执行", "03": "申请法院强制执行"}
PARTY_NATURES = {"1": "法人及其他组织", "2": "自然人", "3": "个体工商户"}
ID_TYPES = {"001": "统一社会信用代码", "111": "居民身份证"}

CODE_LISTS: dict[str, dict[str, str]] = {
    "case_source": CASE_SOURCES,
    "penalty_kind": PENALTY_KINDS,
    "execution_mode": EXECUTION_MODES,
    "party_nature": PARTY_NATURES,
    "id_type": ID_TYPES,
}


def coded(list_name: str, code: str) -> dict:
    """``{"code", "name", "code_system"}`` for ``code``; ``KeyError`` names the valid codes."""
    table = CODE_LISTS[list_name]
    if code not in table:
        raise KeyError(f"unknown {list_name} code; valid: {', '.join(table)}")
    return {"code": code, "name": table[code], "code_system": list_name}


def by_name(list_name: str, name: str) -> dict:
    """The coded value whose name is ``name``; ``KeyError`` if no code has that name."""
    for code, known in CODE_LISTS[list_name].items():
        if known == name:
            return {"code": code, "name": known, "code_system": list_name}
    raise KeyError(f"unknown {list_name} name")
