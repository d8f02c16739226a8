"""GB/T 2260 administrative-division codes as data, and the hierarchy walk used for routing.

Coverage (current codes, i.e. after the 2021 Hangzhou and earlier Zhejiang reorganisations):

* every province-level unit of China at province level (``xx0000``), so that any resident
  ID or social credit code can at least be attributed to a province;
* Zhejiang (33) complete to county level: the province, its 11 prefecture-level cities and
  their 90 districts / counties / county-level cities;
* the neighbouring provinces used for cross-province work -- Shanghai (31, with its 16
  districts), Jiangsu (32), Anhui (34), Fujian (35), Jiangxi (36) -- at province and
  prefecture-city level.

Codes are 6 ASCII digits: province ``PP0000``, prefecture city ``PPCC00``, county-level
``PPCCXX``.  Municipalities (Shanghai) have no prefecture-level city in the table: their
districts (``3101xx``) hang directly off the province (``310000``); the structural
``310100`` ("市辖区") is deliberately not listed, as in the current Ministry of Civil Affairs
list.

Codes that were retired by reorganisations are kept apart in :data:`RETIRED_REGIONS`
(informational: older social credit codes and resident IDs still carry them); they are *not*
"known" regions for :func:`is_known_region`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

Level = Literal["province", "city", "county"]

_CODE_RE = re.compile(r"[0-9]{6}")

# --- every province-level unit (GB/T 2260 first level) -------------------------------------
_PROVINCES: dict[str, str] = {
    "110000": "北京市",
    "120000": "天津市",
    "130000": "河北省",
    "140000": "山西省",
    "150000": "内蒙古自治区",
    "210000": "辽宁省",
    "220000": "吉林省",
    "230000": "黑龙江省",
    "310000": "上海市",
    "320000": "江苏省",
    "330000": "浙江省",
    "340000": "安徽省",
    "350000": "福建省",
    "360000": "江西省",
    "370000": "山东省",
    "410000": "河南省",
    "420000": "湖北省",
    "430000": "湖南省",
    "440000": "广东省",
    "450000": "广西壮族自治区",
    "460000": "海南省",
    "500000": "重庆市",
    "510000": "四川省",
    "520000": "贵州省",
    "530000": "云南省",
    "540000": "西藏自治区",
    "610000": "陕西省",
    "620000": "甘肃省",
    "630000": "青海省",
    "640000": "宁夏回族自治区",
    "650000": "新疆维吾尔自治区",
    "710000": "台湾省",
    "810000": "香港特别行政区",
    "820000": "澳门特别行政区",
}

# --- Zhejiang, complete to county level ----------------------------------------------------
_ZHEJIANG: dict[str, str] = {
    # 杭州市
    "330100": "杭州市",
    "330102": "上城区",
    "330105": "拱墅区",
    "330106": "西湖区",
    "330108": "滨江区",
    "330109": "萧山区",
    "330110": "余杭区",
    "330111": "富阳区",
    "330112": "临安区",
    "330113": "临平区",
    "330114": "钱塘区",
    "330122": "桐庐县",
    "330127": "淳安县",
    "330182": "建德市",
    # 宁波市
    "330200": "宁波市",
    "330203": "海曙区",
    "330205": "江北区",
    "330206": "北仑区",
    "330211": "镇海区",
    "330212": "鄞州区",
    "330213": "奉化区",
    "330225": "象山县",
    "330226": "宁海县",
    "330281": "余姚市",
    "330282": "慈溪市",
    # 温州市
    "330300": "温州市",
    "330302": "鹿城区",
    "330303": "龙湾区",
    "330304": "瓯海区",
    "330305": "洞头区",
    "330324": "永嘉县",
    "330326": "平阳县",
    "330327": "苍南县",
    "330328": "文成县",
    "330329": "泰顺县",
    "330381": "瑞安市",
    "330382": "乐清市",
    "330383": "龙港市",
    # 嘉兴市
    "330400": "嘉兴市",
    "330402": "南湖区",
    "330411": "秀洲区",
    "330421": "嘉善县",
    "330424": "海盐县",
    "330481": "海宁市",
    "330482": "平湖市",
    "330483": "桐乡市",
    # 湖州市
    "330500": "湖州市",
    "330502": "吴兴区",
    "330503": "南浔区",
    "330521": "德清县",
    "330522": "长兴县",
    "330523": "安吉县",
    # 绍兴市
    "330600": "绍兴市",
    "330602": "越城区",
    "330603": "柯桥区",
    "330604": "上虞区",
    "330624": "新昌县",
    "330681": "诸暨市",
    "330683": "嵊州市",
    # 金华市
    "330700": "金华市",
    "330702": "婺城区",
    "330703": "金东区",
    "330723": "武义县",
    "330726": "浦江县",
    "330727": "磐安县",
    "330781": "兰溪市",
    "330782": "义乌市",
    "330783": "东阳市",
    "330784": "永康市",
    # 衢州市
    "330800": "衢州市",
    "330802": "柯城区",
    "330803": "衢江区",
    "330822": "常山县",
    "330824": "开化县",
    "330825": "龙游县",
    "330881": "江山市",
    # 舟山市
    "330900": "舟山市",
    "330902": "定海区",
    "330903": "普陀区",
    "330921": "岱山县",
    "330922": "嵊泗县",
    # 台州市
    "331000": "台州市",
    "331002": "椒江区",
    "331003": "黄岩区",
    "331004": "路桥区",
    "331022": "三门县",
    "331023": "天台县",
    "331024": "仙居县",
    "331081": "温岭市",
    "331082": "临海市",
    "331083": "玉环市",
    # 丽水市
    "331100": "丽水市",
    "331102": "莲都区",
    "331121": "青田县",
    "331122": "缙云县",
    "331123": "遂昌县",
    "331124": "松阳县",
    "331125": "云和县",
    "331126": "庆元县",
    "331127": "景宁畲族自治县",
    "331181": "龙泉市",
}

# --- neighbouring provinces -----------------------------------------------------------------
_SHANGHAI: dict[str, str] = {
    # municipality: districts directly under the province-level code
    "310101": "黄浦区",
    "310104": "徐汇区",
    "310105": "长宁区",
    "310106": "静安区",
    "310107": "普陀区",
    "310109": "虹口区",
    "310110": "杨浦区",
    "310112": "闵行区",
    "310113": "宝山区",
    "310114": "嘉定区",
    "310115": "浦东新区",
    "310116": "金山区",
    "310117": "松江区",
    "310118": "青浦区",
    "310120": "奉贤区",
    "310151": "崇明区",
}

_JIANGSU: dict[str, str] = {
    "320100": "南京市",
    "320200": "无锡市",
    "320300": "徐州市",
    "320400": "常州市",
    "320500": "苏州市",
    "320600": "南通市",
    "320700": "连云港市",
    "320800": "淮安市",
    "320900": "盐城市",
    "321000": "扬州市",
    "321100": "镇江市",
    "321200": "泰州市",
    "321300": "宿迁市",
}

_ANHUI: dict[str, str] = {
    "340100": "合肥市",
    "340200": "芜湖市",
    "340300": "蚌埠市",
    "340400": "淮南市",
    "340500": "马鞍山市",
    "340600": "淮北市",
    "340700": "铜陵市",
    "340800": "安庆市",
    "341000": "黄山市",
    "341100": "滁州市",
    "341200": "阜阳市",
    "341300": "宿州市",
    "341500": "六安市",
    "341600": "亳州市",
    "341700": "池州市",
    "341800": "宣城市",
}

_FUJIAN: dict[str, str] = {
    "350100": "福州市",
    "350200": "厦门市",
    "350300": "莆田市",
    "350400": "三明市",
    "350500": "泉州市",
    "350600": "漳州市",
    "350700": "南平市",
    "350800": "龙岩市",
    "350900": "宁德市",
}

_JIANGXI: dict[str, str] = {
    "360100": "南昌市",
    "360200": "景德镇市",
    "360300": "萍乡市",
    "360400": "九江市",
    "360500": "新余市",
    "360600": "鹰潭市",
    "360700": "赣州市",
    "360800": "吉安市",
    "360900": "宜春市",
    "361000": "抚州市",
    "361100": "上饶市",
}

#: code -> simplified-Chinese name, current codes only.
REGIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        **_PROVINCES,
        **_ZHEJIANG,
        **_SHANGHAI,
        **_JIANGSU,
        **_ANHUI,
        **_FUJIAN,
        **_JIANGXI,
    }
)

#: Province-level codes (``PP0000``) -> name, all of China.
PROVINCES: Final[Mapping[str, str]] = MappingProxyType(dict(_PROVINCES))

#: Zhejiang codes retired by reorganisations (informational, not "known"): code -> (name, successor).
RETIRED_REGIONS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "330103": ("下城区", "330105"),  # merged into 拱墅区, 2021
        "330104": ("江干区", "330102"),  # split between 上城区 / 钱塘区, 2021
        "330183": ("富阳市", "330111"),  # became 富阳区, 2014
        "330185": ("临安市", "330112"),  # became 临安区, 2017
        "330204": ("江东区", "330212"),  # merged into 鄞州区, 2016
        "330283": ("奉化市", "330213"),  # became 奉化区, 2016
        "330322": ("洞头县", "330305"),  # became 洞头区, 2015
        "330621": ("绍兴县", "330603"),  # became 柯桥区, 2013
        "330682": ("上虞市", "330604"),  # became 上虞区, 2013
        "331021": ("玉环县", "331083"),  # became 玉环市, 2017
    }
)

ZHEJIANG: Final = "330000"


def _check(code: str) -> str:
    """Return ``code`` if it is 6 ASCII digits, else raise ``ValueError`` (value not echoed)."""
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
        raise ValueError("region code must be a string of 6 ASCII digits")
    return code


def _is_code(code: object) -> bool:
    return isinstance(code, str) and _CODE_RE.fullmatch(code) is not None


def region_name(code: str) -> str | None:
    """Chinese name of a known (current) region code, or ``None`` if unknown or malformed."""
    return REGIONS.get(code) if _is_code(code) else None


def is_known_region(code: str) -> bool:
    """True iff ``code`` is a current code present in :data:`REGIONS`."""
    return _is_code(code) and code in REGIONS


def level(code: str) -> Level:
    """Structural level of a 6-digit code: ``PP0000`` province, ``PPCC00`` city, else county.

    Works on unknown codes too (it only looks at the digits); raises ``ValueError`` if the
    code is not 6 ASCII digits.
    """
    _check(code)
    if code[2:] == "0000":
        return "province"
    if code[4:] == "00":
        return "city"
    return "county"


def province_of(code: str) -> str:
    """The province-level code ``PP0000`` of any 6-digit code (structural)."""
    return _check(code)[:2] + "0000"


def parent(code: str) -> str | None:
    """Nearest *known* ancestor: county -> city -> province.

    A county whose prefecture city is not in the table (the districts of a municipality such
    as ``3101xx``) goes straight to the province (``310000``).  Provinces have no parent;
    if no ancestor is known the result is ``None``.
    """
    lvl = level(code)
    if lvl == "province":
        return None
    candidates = [code[:4] + "00", code[:2] + "0000"] if lvl == "county" else [code[:2] + "0000"]
    for cand in candidates:
        if cand in REGIONS:
            return cand
    return None


def ancestors(code: str) -> list[str]:
    """``[code, parent(code), ...]`` -- self first, ending at the province when it is known."""
    out = [_check(code)]
    p = parent(code)
    while p is not None:
        out.append(p)
        p = parent(p)
    return out


def is_zhejiang(code: str) -> bool:
    """True iff ``code`` is a well-formed 6-digit code in Zhejiang (prefix ``33``).

    Structural: an unknown (e.g. retired) Zhejiang code still counts; malformed input is
    ``False`` rather than an error.
    """
    return _is_code(code) and code.startswith("33")


def children(code: str) -> list[str]:
    """Known codes whose :func:`parent` is ``code``, sorted."""
    _check(code)
    prefix = code[:2] if level(code) == "province" else code[:4]
    return sorted(c for c in REGIONS if c != code and c.startswith(prefix) and parent(c) == code)


def cities(province: str = ZHEJIANG) -> list[str]:
    """Known prefecture-level city codes of ``province`` (empty for municipalities), sorted."""
    if level(province) != "province":
        raise ValueError("cities() expects a province-level code (PP0000)")
    return [c for c in children(province) if level(c) == "city"]


def counties(city: str) -> list[str]:
    """Known county-level codes under ``city``, sorted.

    Given a province-level code it returns every known county-level code of the province
    (for a municipality such as ``310000`` these are its districts).
    """
    lvl = level(city)
    if lvl == "county":
        raise ValueError("counties() expects a city- or province-level code")
    return sorted(c for c in REGIONS if level(c) == "county" and city in ancestors(c)[1:])


__all__ = [
    "PROVINCES",
    "REGIONS",
    "RETIRED_REGIONS",
    "ZHEJIANG",
    "Level",
    "ancestors",
    "children",
    "cities",
    "counties",
    "is_known_region",
    "is_zhejiang",
    "level",
    "parent",
    "province_of",
    "region_name",
]
