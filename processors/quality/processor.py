"""The data-quality monitor (processor ``quality``): per source system, department and window.

Inputs: every standard topic that carries source data (:data:`INPUT_TOPICS`). Per batch,
each record is measured (:mod:`processors.quality.measures`) and counted into the window of
its envelope's ``ingest_time`` (``window_s``, hourly by default) under its envelope's
``source_system`` and ``department_code``; the touched ``quality_windows`` rows are read,
added to and upserted with Core SQL in the batch's transaction.

Duplicates: the runtime already drops records whose record id it has processed (the
connectors derive the id from system, key and version), so what reaches ``apply`` can only
repeat at the business level. A record counts as a duplicate when its content (everything
but the envelope) equals the last record of the same source and business key (the topic's
catalog key): a resend that changes nothing.

Dead letters are not standard records (their bytes are whatever the source sent) and carry
no department, so they are not consumed here: the ``dead_letters`` timer reads each
connector's ``dead_lettered`` counter from ``connector_status`` (reported by the connect
worker), maps the connector to its ``source_system`` through its stored config, and adds
the increase since the last look to ``quality_rejections`` in the window of ``ctx.now``
(a counter that went down — connector re-created — counts from zero). Reasons per dead
letter stay on the connect worker's ``hub_connector_dead_letters_total{reason}``.

The ``reports`` timer emits one ``DataQualityReport`` to ``quality.reports`` per source,
department and window once the window closed ``report_delay_s`` ago, and records it in
``quality_reports_sent`` in the same transaction as the outbox row: exactly once per window.
Records for an already reported window still update the window (the API shows them) and
are counted as ``late_after_report``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, Engine, and_, insert, or_, select

from processors.quality.measures import measure
from processors.quality.models import (
    QualityDeadLetterMark,
    QualityRejection,
    QualityReportSent,
    QualitySeen,
    QualityWindow,
)
from processors.quality.report import department_name, tallies
from processors.quality.stats import Tally
from processors.runtime.contract import Context, InRecord, Timer
from topics.catalog import get as get_topic

INPUT_TOPICS: tuple[str, ...] = (
    "entity.updates", "officer.updates", "catalog.updates", "penalty.case.events", "penalty.coercions",
    "inspection.records", "complaint.tickets", "grassroots.events", "risk.alerts",
)
"""Standard topics whose records come from source systems (each with the exchange envelope)."""

REPORT_TOPIC = "quality.reports"
REPORT_SOURCE = "hub.quality"
_BATCH_REPORTS = 500


class QualityConfig(BaseSettings):
    """Settings of the quality monitor; environment variables ``HUB_QUALITY_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="HUB_QUALITY_", extra="forbid", env_file=None)

    window_s: int = Field(3600, ge=60, description="Window length in seconds (windows start at multiples of it, UTC).")
    report_delay_s: int = Field(300, ge=0, description="How long after a window's end its report waits for stragglers.")
    timer_s: float = Field(60.0, gt=0, description="How often the report and dead-letter timers run, in seconds.")
    timely_within_s: int = Field(86400, ge=0, description="Agreed delay: a record ingested within this many "
                                 "seconds of its event time is timely.")
    rolling_s: int = Field(86400, ge=3600, description="Period of the rolling Prometheus gauges, in seconds.")


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _digest(value: dict) -> str:
    body = {k: v for k, v in value.items() if k != "envelope"}
    return _sha(json.dumps(body, sort_keys=True, default=str, ensure_ascii=False))


def _business_key(record: InRecord, key_field: str) -> str:
    node = record.value
    for part in key_field.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return str(node) if node is not None else (record.key or record.record_id)


def _upsert(conn: Connection, table, keys: list[str], rows: list[dict]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(table)
    others = [c for c in rows[0] if c not in keys]
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in others}), rows)


class QualityProcessor:
    """See the module docstring. Stateless between batches: everything lives in the tables."""

    name = "quality"
    topics = INPUT_TOPICS

    def __init__(self, config: QualityConfig | None = None) -> None:
        self.config = config or QualityConfig()
        self.window_ms = self.config.window_s * 1000
        self.timers = (
            Timer("dead_letters", self.config.timer_s, self.count_dead_letters),
            Timer("reports", self.config.timer_s, self.emit_reports),
        )
        self._schemas = {t: get_topic(t).value_schema for t in INPUT_TOPICS}
        self._key_fields = {t: get_topic(t).key_field for t in INPUT_TOPICS}

    def window_of(self, ms: int) -> int:
        return ms - ms % self.window_ms

    # -- records ---------------------------------------------------------------------------
    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        now_ms = _ms(ctx.now)
        timely_ms = self.config.timely_within_s * 1000
        prepared = []
        for r in records:
            env = r.envelope
            ingest = env.get("ingest_time")
            ingest_ms = _ms(ingest) if isinstance(ingest, datetime) else ingest if isinstance(ingest, int) else now_ms
            seen_key = (r.topic, r.source_system, _sha(_business_key(r, self._key_fields[r.topic])))
            prepared.append((r, seen_key, self.window_of(ingest_ms)))
        last = self._last_digests(conn, {p[1] for p in prepared})
        fresh: dict[tuple, Tally] = {}
        changed: dict[tuple, str] = {}
        for r, seen_key, window in prepared:
            digest = _digest(r.value)
            duplicate = last.get(seen_key) == digest
            last[seen_key] = changed[seen_key] = digest
            m = measure(self._schemas[r.topic], r.value)
            key = (r.source_system, r.envelope.get("department_code") or "", window)
            fresh.setdefault(key, Tally()).add(m, duplicate=duplicate, timely_within_ms=timely_ms)
            ctx.count("measured")
            ctx.count("duplicate", int(duplicate))
            ctx.count("inaccurate", int(bool(m.errors)))
            ctx.count("incomplete", int(bool(m.missing)))
        self._add_windows(conn, fresh, ctx)
        _upsert(conn, QualitySeen.__table__, ["key_hash", "topic", "source_system"],
                [{"topic": k[0], "source_system": k[1], "key_hash": k[2], "digest": d} for k, d in changed.items()])

    def _last_digests(self, conn: Connection, keys: set[tuple]) -> dict[tuple, str]:
        out: dict[tuple, str] = {}
        hashes = sorted({k[2] for k in keys})
        for i in range(0, len(hashes), 500):
            q = select(QualitySeen.topic, QualitySeen.source_system, QualitySeen.key_hash, QualitySeen.digest).where(
                QualitySeen.key_hash.in_(hashes[i:i + 500]))
            out.update({(t, s, k): d for t, s, k, d in conn.execute(q) if (t, s, k) in keys})
        return out

    def _add_windows(self, conn: Connection, fresh: dict[tuple, Tally], ctx: Context) -> None:
        if not fresh:
            return
        cond = or_(*[and_(QualityWindow.source_system == s, QualityWindow.department_code == d,
                          QualityWindow.window_start_ms == w) for s, d, w in fresh])
        existing = {(row.source_system, row.department_code, row.window_start_ms): Tally.from_columns(row)
                    for row in conn.execute(select(QualityWindow).where(cond))}
        reported = set(conn.execute(select(
            QualityReportSent.source_system, QualityReportSent.department_code, QualityReportSent.window_start_ms
        ).where(or_(*[and_(QualityReportSent.source_system == s, QualityReportSent.department_code == d,
                           QualityReportSent.window_start_ms == w) for s, d, w in fresh]))).all())
        rows = []
        for key, tally in sorted(fresh.items()):
            if tuple(key) in reported:
                ctx.count("late_after_report", tally.records)
            total = existing[key].merge(tally) if key in existing else tally
            rows.append({"source_system": key[0], "department_code": key[1], "window_start_ms": key[2],
                         **total.columns(), "updated_at": ctx.now})
        _upsert(conn, QualityWindow.__table__, ["source_system", "department_code", "window_start_ms"], rows)

    # -- dead letters (timer) ----------------------------------------------------------------
    def count_dead_letters(self, conn: Connection, ctx: Context) -> None:
        """Add each connector's new dead letters to its source's rejection window of ``ctx.now``."""
        from connectors.store import ConnectorRow, ConnectorStatusRow

        systems = {name: (config or {}).get("source_system") or name
                   for name, config in conn.execute(select(ConnectorRow.name, ConnectorRow.config))}
        marks = dict(conn.execute(select(QualityDeadLetterMark.connector, QualityDeadLetterMark.total)).all())
        window = self.window_of(_ms(ctx.now))
        added: dict[str, int] = {}
        mark_rows = []
        for name, counters in conn.execute(select(ConnectorStatusRow.name, ConnectorStatusRow.counters)):
            total = int((counters or {}).get("dead_lettered") or 0)
            before = marks.get(name, 0)
            delta = total - before if total >= before else total
            if total != before:
                mark_rows.append({"connector": name, "total": total})
            if delta > 0:
                source = systems.get(name, name)
                added[source] = added.get(source, 0) + delta
        _upsert(conn, QualityDeadLetterMark.__table__, ["connector"], mark_rows)
        if not added:
            return
        existing = dict(conn.execute(select(QualityRejection.source_system, QualityRejection.rejected).where(
            QualityRejection.window_start_ms == window, QualityRejection.source_system.in_(sorted(added)))).all())
        _upsert(conn, QualityRejection.__table__, ["source_system", "window_start_ms"],
                [{"source_system": s, "window_start_ms": window, "rejected": existing.get(s, 0) + n}
                 for s, n in sorted(added.items())])
        ctx.count("dead_letters_counted", sum(added.values()))

    # -- reports (timer) ---------------------------------------------------------------------
    def emit_reports(self, conn: Connection, ctx: Context) -> None:
        """Emit a report for every closed window not reported yet, and remember it (same transaction)."""
        now_ms = _ms(ctx.now)
        closed_before = self.window_of(now_ms - self.config.report_delay_s * 1000 - self.window_ms + 1)
        last_sent = conn.execute(select(QualityReportSent.window_start_ms)
                                 .order_by(QualityReportSent.window_start_ms.desc()).limit(1)).scalar()
        # Windows older than the newest reported one are re-checked for a few windows only:
        # later windows of other sources may have been reported while this one was still open.
        since = 0 if last_sent is None else last_sent - 48 * self.window_ms
        pending = tallies(conn, since, closed_before + 1, by_window=True)
        if not pending:
            return
        sent = set(conn.execute(select(QualityReportSent.source_system, QualityReportSent.department_code,
                                       QualityReportSent.window_start_ms)
                                .where(QualityReportSent.window_start_ms >= since)).all())
        todo = sorted(k for k in pending if k not in sent)[:_BATCH_REPORTS]
        rows = []
        for source, department, start in todo:
            report = self.report_value(source, department, start, pending[(source, department, start)], now_ms)
            ctx.emit(REPORT_TOPIC, report)
            rows.append({"source_system": source, "department_code": department, "window_start_ms": start,
                         "report_id": report["report_id"], "emitted_at": ctx.now})
        if rows:
            conn.execute(insert(QualityReportSent), rows)
            ctx.count("reports", len(rows))

    def report_value(self, source: str, department: str, start_ms: int, t: Tally, now_ms: int) -> dict:
        """The ``DataQualityReport`` of one window (ratios with nothing to measure are 1.0)."""
        end_ms = start_ms + self.window_ms
        report_id = f"{source}:{department or '-'}:{start_ms}"
        return {
            "envelope": {
                "record_id": report_id, "source_system": REPORT_SOURCE,
                "source_position": {"partition": "quality_windows", "offset": str(start_ms)},
                "operation": "i", "event_time": end_ms, "ingest_time": now_ms, "region_code": "330000",
                "department_code": department, "trace_id": None, "batch": None, "source_key": report_id,
                "source_version": "1",
            },
            "report_id": report_id, "source_system": source,
            "department": {"code": department, "name": department_name(department), "code_system": None},
            "window_start": start_ms, "window_end": end_ms,
            "records_total": t.records, "records_rejected": t.rejected, "duplicates": t.duplicates,
            "completeness": _ratio(t.completeness), "accuracy": _ratio(t.accuracy),
            "timeliness": _ratio(t.timeliness),
            "latency_p50_ms": t.latency_quantile_ms(0.5), "latency_p95_ms": t.latency_quantile_ms(0.95),
            "missing_field_counts": dict(t.missing_counts), "error_counts": dict(t.error_counts),
        }

    # -- metrics ---------------------------------------------------------------------------
    def collector(self, engine: Engine):
        from processors.quality.collector import QualityCollector

        return QualityCollector(engine, self.config.rolling_s, self.window_ms)


def _ratio(v: float | None) -> float:
    return 1.0 if v is None else round(v, 6)

