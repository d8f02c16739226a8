"""Reconcile what a simulator emitted (its ledger) with what reached the hub.

Inputs are the ledger's expectation (``Ledger.expected()``), the decoded standard records
of the system (any number of copies: the hub is at-least-once) and the parsed dead letters
of its connector. Output is one JSON-ready dict per system::

    emitted, expected_good, arrived (distinct after dedup by source key + version),
    raw_arrivals, redelivered (raw - distinct: allowed, the hub is at-least-once),
    duplicates_after_dedup (a source record under more than one record id: never allowed),
    missing (expected good not arrived),
    unexpected (arrived but not expected good), dead_expected / dead_observed {reason: n},
    dead_missing (expected dead not dead-lettered with that reason), ok

Matching is by (source key, source version); dead letters whose key could not be read
(e.g. an undecodable line) are matched by reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def _key(key, version) -> tuple[str, str]:
    return (str(key), str(version))


def reconcile(system: str, expected: dict, emitted: int, standard: Iterable[dict],
              dead_letters: Iterable[dict]) -> dict:
    good = {_key(k, v) for k, v in expected["good"]}
    dead = {_key(k, v): reason for (k, v), reason in expected["dead"].items()}
    ids: dict[tuple[str, str], set[str]] = {}
    arrivals = []
    for r in standard:
        k = _key(r["envelope"]["source_key"], r["envelope"]["source_version"])
        arrivals.append(k)
        ids.setdefault(k, set()).add(r["envelope"]["record_id"])
    distinct = set(arrivals)
    letters = list(dead_letters)

    keyed = {_key(d["source_key"], d["source_version"]): d["reason"]
             for d in letters if d.get("source_key") and d.get("source_version")}
    unkeyed = Counter(d["reason"] for d in letters if not (d.get("source_key") and d.get("source_version")))
    dead_missing = 0
    for k, reason in dead.items():
        if keyed.get(k) == reason:
            continue
        if unkeyed[reason] > 0:  # e.g. an undecodable line: its key could not be read
            unkeyed[reason] -= 1
            continue
        dead_missing += 1

    missing, unexpected = len(good - distinct), len(distinct - good)
    return {
        "system": system,
        "emitted": emitted,
        "expected_good": len(good),
        "arrived": len(distinct & good),
        "raw_arrivals": len(arrivals),
        "redelivered": len(arrivals) - len(distinct),
        "duplicates_after_dedup": sum(len(v) - 1 for v in ids.values()),
        "missing": missing,
        "unexpected": unexpected,
        "dead_expected": dict(Counter(dead.values())),
        "dead_observed": dict(Counter(d["reason"] for d in letters)),
        "dead_missing": dead_missing,
        "ok": missing == 0 and unexpected == 0 and dead_missing == 0
        and all(len(v) == 1 for v in ids.values()),
    }
