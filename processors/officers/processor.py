"""The officer registry processor: ``officer.updates`` -> ``officers`` -> ``officer.registry``.

Contract:

- One row per certificate number, upserted with SQLAlchemy Core (one ``SELECT … IN`` and
  one ``INSERT … ON CONFLICT DO UPDATE`` executemany per batch).
- Updates are ordered by ``envelope.source_version`` (:func:`status.version_key`); one
  that is older than or equal to what is stored is counted stale and changes nothing.
- ``status`` is the effective status on the Asia/Shanghai date of ``ctx.now``
  (:func:`status.effective_status`); a delete (operation ``d``) revokes the certificate,
  so it can never verify again.
- Every change of effective status is written to ``officer_status_history`` (cause
  ``source`` or ``expiry``), and every changed officer is emitted on the compacted
  ``officer.registry`` (its source record with the effective status and a hub envelope
  whose record id is ``officers:<certificate>:<revision>``).
- Records that cannot be an officer (blank certificate number or name, no department, bad
  region, ``valid_to`` before ``valid_from``) raise :class:`OfficerRecordError`; the runtime
  dead-letters them with its ``reason``. Bad optional fields (resident ID, phone, unknown
  domain codes) are dropped and counted, the officer is kept.
- Timer ``expire`` (hourly, or every ``HUB_OFFICERS_EXPIRE_INTERVAL_S`` seconds; idempotent,
  set-based) flips every ``valid`` / ``suspended`` officer whose ``valid_to`` has passed to
  ``expired`` and emits it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from processors.officers.models import Officer, OfficerStatusHistory
from processors.officers.status import EXPIRABLE, STATUSES, effective_status, today, version_key
from processors.runtime.contract import Context, InRecord, Timer
from schemas import domains as domain_table
from schemas.codes import CodeError, is_valid_resident_id, validate_region

TOPIC_IN = "officer.updates"
TOPIC_OUT = "officer.registry"
SCHEMA = "gov.zj.supervision.officer.EnforcementOfficer"
HUB_SOURCE = "hub.officers"
_DATE_FIELDS = ("birth_date", "certificate_valid_from", "certificate_valid_to")
_IN_CHUNK = 500


class OfficerRecordError(ValueError):
    """An input record that cannot become a registry row; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value[:limit] if value else None


def _ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)
    return int(value or 0)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive (in UTC).
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _ms(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.hex()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def parse(record: InRecord, ctx: Context) -> dict[str, Any]:
    """The ``officers`` row an input record describes (without status, revision, times)."""
    v = record.value
    cert = _text(v.get("certificate_number"), 64)
    if not cert or len(cert) > 32:
        raise OfficerRecordError("certificate_number", "certificate number is blank or longer than 32 characters")
    name = _text(v.get("name"), 64)
    if not name:
        raise OfficerRecordError("name", "officer name is blank")
    dept = v.get("department") or {}
    dept_code, dept_name = _text(dept.get("code"), 64), _text(dept.get("name"), 255)
    if not dept_code:
        raise OfficerRecordError("department", "department code is blank")
    region_value = v.get("enforcement_region") or {}
    region = _text(region_value.get("code"), 16) or _text(record.envelope.get("region_code"), 16)
    try:
        validate_region(region or "", field="enforcement_region")
    except CodeError as exc:
        raise OfficerRecordError(exc.reason, exc.message) from None
    valid_from, valid_to = v.get("certificate_valid_from"), v.get("certificate_valid_to")
    if valid_from and valid_to and valid_to < valid_from:
        raise OfficerRecordError("validity_range", "certificate_valid_to lies before certificate_valid_from")

    resident_id = _text(v.get("resident_id"), 32)
    if resident_id and not is_valid_resident_id(resident_id.upper()):
        ctx.count("invalid_resident_id")
        resident_id = None
    phone = _text(v.get("phone"), 64)
    if phone and len(phone) > 32:
        ctx.count("invalid_phone")
        phone = None
    codes: list[str] = []
    for d in v.get("enforcement_domains") or []:
        code = _text((d or {}).get("code"), 16)
        if code in domain_table.DOMAINS:
            if code not in codes:
                codes.append(code)
        else:
            ctx.count("unknown_domain")
    recorded = v.get("status") or "suspended"
    if record.envelope.get("operation") == "d":
        recorded = "revoked"
        ctx.count("deleted")
    sex, authority = v.get("sex") or {}, v.get("issuing_authority") or {}
    payload = {k: val for k, val in v.items() if k != "envelope"}
    return {
        "certificate_number": cert, "name": name, "resident_id": resident_id and resident_id.upper(),
        "phone": phone, "sex_code": _text(sex.get("code"), 8), "department_code": dept_code,
        "department_name": dept_name or dept_code, "department_uscc": _text(v.get("department_uscc"), 18),
        "region_code": region, "domains": json.dumps(codes), "issuing_authority": _text(authority.get("name"), 255),
        "valid_from": valid_from, "valid_to": valid_to, "recorded_status": recorded,
        "is_supervisor": v.get("is_supervisor"), "source_version": _text(record.source_version, 64),
        "event_time": datetime.fromtimestamp(_ms(record.envelope.get("event_time")) / 1000, UTC),
        "source_system": _text(record.source_system, 64),
        "payload": json.dumps(payload, ensure_ascii=False, default=_json_default),
    }


def registry_value(row: dict[str, Any], now: datetime, operation: str = "u") -> dict[str, Any]:
    """The ``officer.registry`` record of an ``officers`` row (source record + effective status)."""
    value = json.loads(row["payload"]) if row.get("payload") else {}
    for f in _DATE_FIELDS:
        if isinstance(value.get(f), str):
            value[f] = date.fromisoformat(value[f])
    ms = _ms(now)
    cert = row["certificate_number"]
    value.update({
        "certificate_number": cert, "status": row["status"],
        "envelope": {
            "record_id": f"officers:{cert}:{row['revision']}", "source_system": HUB_SOURCE,
            "source_position": {"partition": TOPIC_OUT, "offset": str(row["revision"])},
            "operation": operation, "event_time": ms, "ingest_time": ms,
            "region_code": row["region_code"], "department_code": row["department_code"],
            "trace_id": None, "batch": None, "source_key": cert, "source_version": str(row["revision"]),
        },
    })
    return value


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(Officer)
    cols = [c for c in rows[0] if c != "certificate_number"]
    conn.execute(stmt.on_conflict_do_update(index_elements=["certificate_number"],
                                            set_={c: stmt.excluded[c] for c in cols}), rows)


class OfficersProcessor:
    """See the module docstring."""

    name = "officers"
    topics = (TOPIC_IN,)

    def __init__(self, expire_interval_s: float | None = None) -> None:
        # The env override exists so integration tests need not wait an hour for the timer.
        interval = expire_interval_s or float(os.environ.get("HUB_OFFICERS_EXPIRE_INTERVAL_S") or 3600)
        self.timers = (Timer("expire", interval, self.expire),)

    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        on = today(ctx.now)
        parsed = [(r, parse(r, ctx)) for r in records]
        certs = list({row["certificate_number"] for _, row in parsed})
        state: dict[str, dict[str, Any]] = {}
        cols = (Officer.certificate_number, Officer.status, Officer.source_version, Officer.event_time,
                Officer.revision)
        for i in range(0, len(certs), _IN_CHUNK):
            # FOR UPDATE (PostgreSQL): the expiry timer may run on another thread; it waits for this batch.
            query = select(*cols).where(Officer.certificate_number.in_(certs[i:i + _IN_CHUNK])).with_for_update()
            for row in conn.execute(query):
                state[row.certificate_number] = {"status": row.status, "source_version": row.source_version,
                                                 "event_time": _aware(row.event_time), "revision": row.revision}
        changed: dict[str, dict[str, Any]] = {}
        inserted: set[str] = set()
        history: list[dict[str, Any]] = []
        for record, row in parsed:
            cert = row["certificate_number"]
            old = state.get(cert)
            if old is not None and version_key(row["source_version"], _ms(row["event_time"])) <= version_key(
                    old["source_version"], _ms(old["event_time"])):
                ctx.stale(record)
                continue
            status = effective_status(row["recorded_status"], row["valid_to"], on)
            if old is None or old["status"] != status:
                history.append({"certificate_number": cert, "from_status": old and old["status"], "to_status": status,
                                "at": ctx.now, "cause": "source", "record_id": record.record_id[:200]})
            if old is None:
                inserted.add(cert)
            row = {**row, "status": status, "revision": (old["revision"] if old else 0) + 1, "updated_at": ctx.now}
            state[cert] = {"status": status, "source_version": row["source_version"], "event_time": row["event_time"],
                           "revision": row["revision"]}
            changed[cert] = row
        if not changed:
            return
        _upsert(conn, list(changed.values()))
        if history:
            conn.execute(insert(OfficerStatusHistory), history)
        for cert, row in changed.items():
            ctx.emit(TOPIC_OUT, registry_value(row, ctx.now, "i" if cert in inserted else "u"), key=cert)
        ctx.count("upserted", len(changed))

    def expire(self, conn: Connection, ctx: Context) -> None:
        """Flip every valid / suspended officer past ``valid_to`` to ``expired`` and emit it (idempotent)."""
        on = today(ctx.now)
        rows: list[dict[str, Any]] = []
        for before in EXPIRABLE:  # one set-based UPDATE … RETURNING per prior status (kept for the history)
            changed = conn.execute(
                update(Officer).where(Officer.status == before, Officer.valid_to < on)
                .values(status="expired", revision=Officer.revision + 1, updated_at=ctx.now)
                .returning(Officer.certificate_number, Officer.revision, Officer.payload, Officer.region_code,
                           Officer.department_code, Officer.status)
            ).mappings().all()
            rows.extend({**r, "before": before} for r in changed)
        if not rows:
            return
        rows.sort(key=lambda r: r["certificate_number"])
        conn.execute(insert(OfficerStatusHistory), [
            {"certificate_number": r["certificate_number"], "from_status": r["before"], "to_status": "expired",
             "at": ctx.now, "cause": "expiry", "record_id": None} for r in rows
        ])
        for r in rows:
            ctx.emit(TOPIC_OUT, registry_value(r, ctx.now), key=r["certificate_number"])
        ctx.count("expired", len(rows))


    def collector(self, engine: Engine) -> OfficerStatusCollector:
        return OfficerStatusCollector(engine)


class OfficerStatusCollector:
    """Prometheus gauge ``hub_officers{status}``: officers in the registry by stored effective status."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        gauge = GaugeMetricFamily("hub_officers", "Officers in the registry by effective status", labels=["status"])
        counts = dict.fromkeys(STATUSES, 0)
        try:
            with self.engine.connect() as conn:
                for status, n in conn.execute(select(Officer.status, func.count()).group_by(Officer.status)):
                    counts[status] = n
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is briefly away
            return
        for status, n in counts.items():
            gauge.add_metric([status], n)
        yield gauge


PROCESSOR = OfficersProcessor()
