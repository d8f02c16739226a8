"""Tables of the data-quality monitor.

``quality_windows`` holds the additive figures (:class:`processors.quality.stats.Tally`) of
each source system, department and window (by ingest time); ``quality_rejections`` the
records each source's connector dead-lettered, per window of the time the monitor saw them
(from ``connector_status.counters``, remembered in ``quality_dead_letter_marks``);
``quality_seen`` the last content digest per business key, to count unchanged resends;
``quality_reports_sent`` which window reports went to ``quality.reports`` (exactly once).
Window starts are epoch milliseconds (portable, no time-zone round trips through SQLite).
Contract columns (read by the API and the collector): every column of ``quality_windows``
and ``quality_rejections``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base


class QualityWindow(Base):
    __tablename__ = "quality_windows"

    source_system: Mapped[str] = mapped_column(String(100), primary_key=True)
    department_code: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0, doc="unchanged resends of a business key")
    invalid: Mapped[int] = mapped_column(BigInteger, default=0, doc="records failing at least one rule")
    fields_expected: Mapped[int] = mapped_column(BigInteger, default=0)
    fields_missing: Mapped[int] = mapped_column(BigInteger, default=0)
    timely: Mapped[int] = mapped_column(BigInteger, default=0, doc="records ingested within the agreed delay")
    latency_count: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_max_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_buckets: Mapped[list] = mapped_column(JSON, doc="counts per stats.LATENCY_BOUNDS_MS bucket (+ overflow)")
    missing_counts: Mapped[dict] = mapped_column(JSON, doc="expected field path -> records missing it")
    error_counts: Mapped[dict] = mapped_column(JSON, doc="'<field>:<reason>' -> records failing it")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QualityRejection(Base):
    __tablename__ = "quality_rejections"

    source_system: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)


class QualityDeadLetterMark(Base):
    __tablename__ = "quality_dead_letter_marks"

    connector: Mapped[str] = mapped_column(String(200), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, doc="connector_status.counters.dead_lettered last counted")


class QualitySeen(Base):
    __tablename__ = "quality_seen"

    # key_hash first: look-ups are by hash (selective), topic and source are checked after.
    key_hash: Mapped[str] = mapped_column(String(32), primary_key=True, doc="sha256 of the business key (keys may be personal)")
    topic: Mapped[str] = mapped_column(String(100), primary_key=True)
    source_system: Mapped[str] = mapped_column(String(100), primary_key=True)
    digest: Mapped[str] = mapped_column(String(32), doc="sha256 of the record without its envelope")


class QualityReportSent(Base):
    __tablename__ = "quality_reports_sent"

    source_system: Mapped[str] = mapped_column(String(100), primary_key=True)
    department_code: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    report_id: Mapped[str] = mapped_column(String(300))
    emitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
