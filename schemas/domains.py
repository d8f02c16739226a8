"""Enforcement domains (执法领域) and the departments that own them, as data.

One table joins the registries: an item's ``domain`` (SupervisionItem.domain.code), an
officer's ``enforcement_domains``, the industries (GB/T 4754 prefixes) a domain
supervises, and the department suffix that, appended to a GB/T 2260 region code, names
the responsible department at that level (``330106`` + ``SCJ`` = 西湖区市场监督管理局,
``330000SCJ`` the provincial bureau). Department codes follow the simulators'
convention ``<region code><suffix>``.

An industry code matches a domain when it starts with one of the domain's prefixes
(``H62`` matches ``H6210``); the empty prefix would match every industry.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import regions


@dataclass(frozen=True, slots=True)
class Domain:
    code: str
    name: str
    department_suffix: str
    department_name: str
    industry_prefixes: tuple[str, ...]


DOMAINS: dict[str, Domain] = {d.code: d for d in (
    Domain("SCJG", "市场监管 / market regulation", "SCJ", "市场监督管理局",
           ("F51", "F52", "L72", "M74", "O80", "C18", "C19", "C21", "C38", "C39")),
    Domain("SPAQ", "食品安全 / food safety", "SCJ", "市场监督管理局", ("H62", "C13", "C14", "C15", "F512", "F522")),
    Domain("TZSB", "特种设备 / special equipment", "SCJ", "市场监督管理局", ("C34", "D44", "K70", "H61")),
    Domain("YPJG", "药品医疗器械 / drugs and devices", "YJJ", "药品监督管理局", ("C27", "C358", "F515", "F525")),
    Domain("STHJ", "生态环境 / ecology and environment", "STJ", "生态环境局", ("B", "C22", "C26", "C30", "C31", "C32", "D")),
    Domain("AQSC", "安全生产 / work safety", "YJGL", "应急管理局", ("B", "C25", "C26", "C29", "G59")),
    Domain("WSJK", "卫生健康 / health", "WJW", "卫生健康委员会", ("Q84", "O81", "P83")),
    Domain("ZRZY", "自然资源 / natural resources", "ZRJ", "自然资源和规划局", ("B", "E47", "K70")),
    Domain("JTYS", "交通运输 / transport", "JTJ", "交通运输局", ("G53", "G54", "G55", "G58")),
    Domain("CSGL", "综合行政执法 / urban management", "ZHZF", "综合行政执法局", ("E47", "E48", "E50", "H62", "K70")),
)}
"""Every enforcement domain, keyed by code."""


def get(code: str) -> Domain:
    try:
        return DOMAINS[code]
    except KeyError:
        raise KeyError(f"unknown enforcement domain {code!r}; valid: {', '.join(DOMAINS)}") from None


def domains_for_industry(industry_code: str | None) -> list[Domain]:
    """Domains that supervise an industry (GB/T 4754 code such as ``H6210``), in table order."""
    if not industry_code:
        return []
    return [d for d in DOMAINS.values() if any(industry_code.startswith(p) for p in d.industry_prefixes)]


def department_code(domain: str | Domain, region_code: str) -> str:
    """Code of ``domain``'s department in ``region_code`` (any level), e.g. ``330106SCJ``."""
    d = get(domain) if isinstance(domain, str) else domain
    return f"{region_code}{d.department_suffix}"


def department_name(domain: str | Domain, region_code: str) -> str:
    """Chinese name of ``domain``'s department in ``region_code``, e.g. ``西湖区市场监督管理局``."""
    d = get(domain) if isinstance(domain, str) else domain
    return f"{regions.region_name(region_code) or region_code}{d.department_name}"


def region_at_level(region_code: str, level: str) -> str:
    """The ancestor (or self) of ``region_code`` at ``level`` (province / city / county)."""
    for code in regions.ancestors(region_code):
        if regions.level(code) == level:
            return code
    raise ValueError(f"region {region_code} has no {level}-level ancestor")
