"""The append-only message log as a hash chain, and its verification.

``hash = sha256(prev_hash || canonical_json(entry fields))`` where the fields are seq, at,
direction, peer, kind, reason, message_id, body and signature; the first entry's
``prev_hash`` is 64 zeros. ``verify`` recomputes every hash in seq order and reports the
first entry whose content, link or sequence number is wrong: an edited, inserted or
deleted row in the middle is found. Removing the newest rows leaves a valid shorter
chain; detecting that needs the head hash kept elsewhere (``hub federation verify``
prints it so operators can record it).

Appends are serialised: a process-wide lock, plus ``seq`` as primary key so two
processes appending at once make one transaction fail and retry (``with_retry``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from hub_api.federation.models import log
from hub_api.federation.signing import canonical_json

GENESIS = "0" * 64
FIELDS = ("seq", "at", "direction", "peer", "kind", "reason", "message_id", "body", "signature")
append_lock = threading.RLock()


def entry_hash(prev_hash: str, entry: dict) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json({k: entry.get(k) for k in FIELDS})).hexdigest()


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def append(conn: sa.Connection, *, at: datetime, direction: str, peer: str, kind: str, body: str,
           signature: str | None = None, reason: str | None = None, message_id: str | None = None) -> dict:
    """Append one entry inside the caller's transaction; returns it with seq and hash."""
    last = conn.execute(sa.select(log.c.seq, log.c.hash).order_by(log.c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    entry = {"seq": seq, "at": iso(at), "direction": direction, "peer": peer[:64], "kind": kind,
             "reason": reason, "message_id": message_id, "body": body, "signature": signature}
    entry["prev_hash"] = prev
    entry["hash"] = entry_hash(prev, entry)
    conn.execute(log.insert().values(**entry))
    return entry


def with_retry(engine: sa.Engine, work: Callable[[sa.Connection], object], attempts: int = 5):
    """Run ``work(conn)`` in one transaction under the append lock; retry a lost race (seq, nonce, key)."""
    for attempt in range(attempts):
        try:
            with append_lock, engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Serialise appenders across processes; released at commit.
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(330320)"))
                return work(conn)
        except IntegrityError:
            # Another process appended (or inserted the same nonce/key) first: run again,
            # the work re-reads what it checks.
            if attempt == attempts - 1:
                raise
        except DBAPIError as exc:  # SQLite "database is locked" between processes
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
        time.sleep(0.05 * (attempt + 1))
    raise RuntimeError("unreachable")


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head_hash": self.head_hash,
                "first_bad_seq": self.first_bad_seq, "problem": self.problem}


def verify(conn: sa.Connection) -> VerifyReport:
    """Walk the whole log in seq order; the first broken entry ends the walk."""
    prev, expected_seq, count = GENESIS, 1, 0
    rows = conn.execute(sa.select(log).order_by(log.c.seq)).mappings()
    for row in rows:
        entry = dict(row)
        if entry["seq"] != expected_seq:
            return VerifyReport(False, count, prev, expected_seq,
                                f"entry {expected_seq} is missing (next is {entry['seq']})")
        if entry["prev_hash"] != prev:
            if entry_hash(entry["prev_hash"], entry) == entry["hash"]:
                # This entry is intact for a different predecessor: the previous one was
                # altered and re-hashed.
                return VerifyReport(False, count - 1, prev, entry["seq"] - 1,
                                    "altered and re-hashed (the next entry no longer links to it)")
            return VerifyReport(False, count, prev, entry["seq"], "prev_hash does not match the previous entry")
        if entry_hash(prev, entry) != entry["hash"]:
            return VerifyReport(False, count, prev, entry["seq"], "content does not match its hash (altered)")
        prev, expected_seq, count = entry["hash"], expected_seq + 1, count + 1
    return VerifyReport(True, count, prev)
