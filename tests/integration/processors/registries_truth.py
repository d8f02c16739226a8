"""Ground truth of the master-data simulators, recomputed without the processors' code.

The three master-data simulators (market-entity register, officers & certificates, item
catalog) are wrapped by :func:`recording` so that every emitted event is kept next to its
ledger entry. From the ledger (which (key, version) are good) and the events (what a good
version said) plus the entity pool, this module recomputes what the registries must answer:

- :func:`expected_entities`: per USCC, the latest good version of the registration system
  (name, region and industry from the pool, which never change them; status, premises and
  scope from that version; a cancellation (operation ``d``) reads ``deregistered``);
- :func:`expected_items`: per catalog code, the latest good version (abolished if its
  operation is ``d``), its check contents and implementation levels;
- :func:`expected_links`: per entity, ``(catalog code, level, department)`` for every current
  item whose domain's industry prefixes (:mod:`schemas.domains`) match the entity's industry;
- :func:`expected_officer_status`: per certificate, the latest good version's status, expired
  when ``valid_to`` lies before ``today`` (Asia/Shanghai).

Only the domain table (:mod:`schemas.domains`) and the region hierarchy are shared with the
hub: they are the data standard, not the processors' logic.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date

from ops.simulators.cases import SimEvent
from schemas.domains import DOMAINS, department_code, region_at_level

OFFICER_STATUS = {"1": "valid", "2": "suspended", "3": "revoked"}
LEVELS = {"province": "province", "city": "city", "county": "county"}


def recording(simulator_class: type) -> type:
    """A subclass of ``simulator_class`` that keeps a copy of every event it publishes (``events``)."""

    class Recording(simulator_class):
        def publish(self, events: list[SimEvent]) -> None:
            # The base class emits from its constructor: the list may not exist yet.
            self.__dict__.setdefault("events", []).extend(copy.deepcopy(events))
            super().publish(events)

    Recording.__name__ = f"Recording{simulator_class.__name__}"
    return Recording


def latest_good(sim) -> dict[str, SimEvent]:
    """Per source key, the event of its greatest version whose ledger outcome is ``good``."""
    entries, events = sim.ledger.entries, sim.events
    assert len(entries) == len(events), "every published event has one ledger entry"
    out: dict[str, SimEvent] = {}
    for entry, ev in zip(entries, events, strict=True):
        assert (entry["key"], entry["version"]) == (ev.source_key, ev.version)
        if entry["outcome"] == "good" and (ev.source_key not in out or ev.version > out[ev.source_key].version):
            out[ev.source_key] = ev
    return out


def good_versions(sim) -> int:
    """Distinct good (key, version) pairs: the records a processor must have consumed once each."""
    return len(sim.ledger.expected()["good"])


@dataclass(frozen=True)
class EntityTruth:
    uscc: str
    name: str
    region_code: str
    industry_code: str | None
    status: str
    premises: str | None
    business_scope: str | None


def expected_entities(market_sim) -> dict[str, EntityTruth]:
    pool = market_sim.pool
    out = {}
    for key, ev in latest_good(market_sim).items():
        e = pool.entity(int(key[6:]))  # PRIPID = county + 10-digit pool index
        f = ev.fields
        out[e.uscc] = EntityTruth(e.uscc, e.name, e.region_code, e.industry_code,
                                  "deregistered" if ev.operation == "d" else f["status"], f["premises"], f["scope"])
    return out


@dataclass(frozen=True)
class ItemTruth:
    catalog_code: str
    domain: str
    active: bool
    version: str
    contents: tuple[tuple[str, str], ...]  # (content code, text), catalog order
    levels: tuple[str, ...]


def expected_items(item_sim) -> dict[str, ItemTruth]:
    out = {}
    for ev in latest_good(item_sim).values():
        f = ev.fields
        out[f["code"]] = ItemTruth(f["code"], f["domain"], ev.operation != "d", f["label"],
                                   tuple((c["code"], c["text"]) for c in f["contents"]),
                                   tuple(sorted({LEVELS[i["level"]] for i in f["impl"]})))
    return out


def expected_links(entities: dict[str, EntityTruth], items: dict[str, ItemTruth]) -> dict[str, set[tuple]]:
    """entity id -> {(catalog code, level, department code)} (see the module docstring)."""
    out: dict[str, set[tuple]] = {}
    for eid, e in entities.items():
        links = set()
        for it in items.values():
            domain = DOMAINS[it.domain]
            if not it.active or not e.industry_code or not any(
                    e.industry_code.startswith(p) for p in domain.industry_prefixes):
                continue
            for level in it.levels:
                links.add((it.catalog_code, level, department_code(domain, region_at_level(e.region_code, level))))
        out[eid] = links
    return out


def expected_officer_status(officer_sim, today: date) -> dict[str, str]:
    out = {}
    for cert, ev in latest_good(officer_sim).items():
        status = OFFICER_STATUS[ev.fields["status"]]
        if status in ("valid", "suspended") and ev.fields["valid_to"] < today:
            status = "expired"
        out[cert] = status
    return out


def first_diffs(want: dict, got: dict, n: int = 5) -> list[str]:
    """Readable differences between two dicts keyed alike (missing, unexpected, different), the first ``n``."""
    lines = [f"missing {k}: want {want[k]!r}" for k in sorted(want.keys() - got.keys())]
    lines += [f"unexpected {k}: got {got[k]!r}" for k in sorted(got.keys() - want.keys())]
    lines += [f"{k}: want {want[k]!r}, got {got[k]!r}" for k in sorted(want.keys() & got.keys()) if want[k] != got[k]]
    return lines[:n] + ([f"... {len(lines) - n} more"] if len(lines) > n else [])
