"""``GET /quality/report``: completeness, accuracy, timeliness and duplicates per source and department.

Sums the quality monitor's windows (:mod:`processors.quality`) that start in
``[since, until)`` (``since`` rounded down to a window start; default: the last 24 hours)
and derives the ratios; dead-lettered records appear under their source with the empty
department code. Any authenticated client may read it (the figures hold no personal data).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hub_api.auth.deps import CurrentPrincipal
from processors.quality.processor import QualityConfig
from processors.quality.report import department_name, tallies, top

router = APIRouter(prefix="/quality", tags=["quality"])


class Count(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Field path, or `<field>:<reason>` for an error.")
    count: int = Field(description="Records concerned.")


class QualityFigures(BaseModel):
    """Figures of one source system and department over the period."""

    model_config = ConfigDict(extra="forbid")

    source_system: str
    department_code: str = Field(description="Envelope department code; empty for dead-lettered records.")
    department_name: str
    records: int = Field(description="Records measured (accepted onto the standard topics).")
    rejected: int = Field(description="Records the source's connector dead-lettered.")
    duplicates: int = Field(description="Records whose content repeated the last one of the same business key.")
    completeness: float | None = Field(description="Share of expected fields filled (null: none measured).")
    accuracy: float | None = Field(description="Share of records passing every code and date rule; "
                                   "dead letters count as failing.")
    timeliness: float | None = Field(description="Share of records ingested within the agreed delay.")
    latency_p50_s: float | None = Field(description="Median ingest minus event time, seconds (bucket upper bound).")
    latency_p95_s: float | None = Field(description="95th percentile of ingest minus event time, seconds.")
    top_missing_fields: list[Count]
    top_errors: list[Count]


class QualityReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime = Field(description="Start of the first window included.")
    until: datetime = Field(description="End of the period (exclusive).")
    window_s: int = Field(description="Window length of the monitor, seconds.")
    items: list[QualityFigures]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@router.get("/report", response_model=QualityReport, summary="Data quality per source system and department")
def quality_report(
    request: Request,
    _principal: CurrentPrincipal,
    source: Annotated[str | None, Query(description="Only this source system.")] = None,
    department: Annotated[str | None, Query(description="Only this department code.")] = None,
    since: Annotated[datetime | None, Query(description="Period start (ISO 8601; default: until - 24 h).")] = None,
    until: Annotated[datetime | None, Query(description="Period end, exclusive (ISO 8601; default: now).")] = None,
    top_n: Annotated[int, Query(ge=1, le=50, description="How many missing fields and errors to list.")] = 5,
) -> QualityReport:
    config = QualityConfig()
    window_ms = config.window_s * 1000
    end = _aware(until) if until else datetime.now(UTC)
    start = _aware(since) if since else end - timedelta(days=1)
    if start >= end:
        raise HTTPException(400, detail={"error": "invalid_period", "message": "`since` must be before `until`"})
    since_ms = int(start.timestamp() * 1000)
    since_ms -= since_ms % window_ms
    until_ms = int(end.timestamp() * 1000)
    with request.app.state.db.engine.connect() as conn:
        data = tallies(conn, since_ms, until_ms, source=source, department=department)

    def seconds(ms: int | None) -> float | None:
        return None if ms is None else ms / 1000

    items = [
        QualityFigures(
            source_system=src, department_code=dept, department_name=department_name(dept),
            records=t.records, rejected=t.rejected, duplicates=t.duplicates, completeness=t.completeness,
            accuracy=t.accuracy, timeliness=t.timeliness, latency_p50_s=seconds(t.latency_quantile_ms(0.5)),
            latency_p95_s=seconds(t.latency_quantile_ms(0.95)),
            top_missing_fields=[Count(name=k, count=v) for k, v in top(t.missing_counts, top_n)],
            top_errors=[Count(name=k, count=v) for k, v in top(t.error_counts, top_n)],
        )
        for (src, dept), t in sorted(data.items())
    ]
    return QualityReport(since=datetime.fromtimestamp(since_ms / 1000, UTC), until=end,
                         window_s=config.window_s, items=items)
