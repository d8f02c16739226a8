"""Ledger: outcomes per defect kind, expected() and the JSON-lines round trip."""

from __future__ import annotations

from ops.simulators.cases import ALL_DEFECTS, CaseGenerator
from ops.simulators.ledger import Ledger


def test_ledger_expected_and_round_trip(tmp_path):
    path = tmp_path / "led.jsonl"
    led = Ledger(path, system="t")
    events = CaseGenerator(5, "330000TST", bad_ratio=0.2, defects=ALL_DEFECTS).take(800)
    for i, ev in enumerate(events):
        led.record(ev, position=str(i))
    led.close()
    exp = led.expected()
    fresh = [e for e in events if e.defect not in ("duplicate", "out_of_order")]
    assert exp["good"] == {(e.source_key, e.version) for e in fresh
                           if e.defect is None or e.repairable}
    assert exp["dead"] == {(e.source_key, e.version): e.expected_reason for e in fresh
                           if e.defect and not e.repairable}
    assert not exp["good"] & set(exp["dead"])
    assert set(exp["dead"].values()) <= {"uscc_check", "id_check", "region_unknown", "schema",
                                         "encoding", "item_code_format", "date_order"}
    loaded = Ledger.load(path)
    assert loaded.entries == led.entries
    assert loaded.expected() == exp
    s = loaded.summary()
    assert s["emitted"] == 800 and s["good"] == len(exp["good"])
    assert s["repeats"] == sum(e.defect in ("duplicate", "out_of_order") for e in events)
