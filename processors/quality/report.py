"""Read side: window tallies summed per source system and department over a period.

Shared by the report timer, the API (``GET /quality/report``) and the Prometheus collector.
Dead-lettered records carry no department (most are rejected before mapping), so they are
reported under the department :data:`REJECTED_DEPARTMENT` of their source.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from processors.quality.models import QualityRejection, QualityWindow
from processors.quality.stats import Tally
from schemas import domains

REJECTED_DEPARTMENT = ""
"""Department code under which a source's dead-lettered records are counted."""

_WINDOW_COLUMNS = [QualityWindow.source_system, QualityWindow.department_code, QualityWindow.window_start_ms,
                   QualityWindow.records, QualityWindow.duplicates, QualityWindow.invalid,
                   QualityWindow.fields_expected, QualityWindow.fields_missing, QualityWindow.timely,
                   QualityWindow.latency_count, QualityWindow.latency_max_ms, QualityWindow.latency_buckets,
                   QualityWindow.missing_counts, QualityWindow.error_counts]


def tallies(conn: Connection, since_ms: int, until_ms: int, *, source: str | None = None,
            department: str | None = None, by_window: bool = False) -> dict[tuple, Tally]:
    """Tallies of windows starting in ``[since_ms, until_ms)``, keyed ``(source, department)``
    (``(source, department, window_start_ms)`` with ``by_window``), filtered when given."""
    out: dict[tuple, Tally] = {}
    q = select(*_WINDOW_COLUMNS).where(QualityWindow.window_start_ms >= since_ms,
                                       QualityWindow.window_start_ms < until_ms)
    if source is not None:
        q = q.where(QualityWindow.source_system == source)
    if department is not None:
        q = q.where(QualityWindow.department_code == department)
    for row in conn.execute(q):
        key = (row.source_system, row.department_code) + ((row.window_start_ms,) if by_window else ())
        tally = Tally.from_columns(row)
        out[key] = out[key].merge(tally) if key in out else tally
    if department is None or department == REJECTED_DEPARTMENT:
        r = select(QualityRejection.source_system, QualityRejection.window_start_ms, QualityRejection.rejected).where(
            QualityRejection.window_start_ms >= since_ms, QualityRejection.window_start_ms < until_ms)
        if source is not None:
            r = r.where(QualityRejection.source_system == source)
        for src, start, rejected in conn.execute(r):
            key = (src, REJECTED_DEPARTMENT) + ((start,) if by_window else ())
            out.setdefault(key, Tally()).rejected += rejected
    return out


def department_name(code: str) -> str:
    """Name of a department code ``<region><suffix>`` from the domain table, else the code itself."""
    if code == REJECTED_DEPARTMENT:
        return "拒收记录(无部门) / rejected records (no department)"
    for domain in domains.DOMAINS.values():
        suffix = domain.department_suffix
        if suffix and code.endswith(suffix) and len(code) == 6 + len(suffix) and code[:6].isdigit():
            try:
                return domains.department_name(domain, code[:6])
            except (KeyError, ValueError):
                break
    return code


def top(counts: dict[str, int], n: int = 5) -> list[tuple[str, int]]:
    """The ``n`` largest counts, ties by name."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
