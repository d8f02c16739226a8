"""The JSON shape and exit code of `hub demo --check`, from fake ledgers, records and dead letters."""

import json

from ops.demo.check import dead_letter_check, summarize, system_report


def record(key: str, version: int, record_id: str | None = None, offset: str = "1") -> dict:
    return {"envelope": {"source_key": key, "source_version": str(version),
                         "record_id": record_id or f"sys:{key}:{version}",
                         "source_position": {"partition": "p", "offset": offset}}}


def letter(key: str | None, version: int | None, reason: str, offset: str = "9") -> dict:
    return {"source_key": key, "source_version": None if version is None else str(version), "reason": reason,
            "source_partition": "p", "source_offset": offset}


EXPECTED = {"good": {("A", 1), ("B", 1), ("B", 2)}, "dead": {("C", 1): "uscc_check", ("D", 1): "encoding"}}
GOOD = [record("A", 1, offset="1"), record("B", 1, offset="2"), record("B", 2, offset="3")]
DEAD = [letter("C", 1, "uscc_check", "4"), letter(None, None, "encoding", "5")]


def test_a_clean_system_is_ok_and_exit_code_0():
    # one hub redelivery (same position) and one source re-send (another position) of A
    standard = GOOD + [record("A", 1, offset="1"), record("A", 1, offset="7")]
    dead = DEAD + [letter("C", 1, "uscc_check", "4")]  # a redelivered dead letter counts once
    report = system_report("tax", EXPECTED, 6, standard, dead, drained=True)
    doc, code = summarize([report], duration_s=10)
    assert code == 0 and doc["ok"] is True
    assert json.loads(json.dumps(doc))["systems"]["tax"]["ok"] is True
    for key in ("emitted", "expected_good", "arrived", "missing", "duplicates_after_dedup", "redelivered",
                "redelivered_by_hub", "dead_expected", "dead_observed", "dead_distinct", "dead_missing",
                "dead_unexpected", "ok", "drained"):
        assert key in report, key
    assert report["arrived"] == 3 and report["redelivered"] == 2 and report["redelivered_by_hub"] == 1
    assert report["dead_distinct"] == {"uscc_check": 1, "encoding": 1} == report["dead_expected"]
    assert doc["totals"]["emitted"] == 6 and doc["duration_s"] == 10


def test_missing_duplicates_or_wrong_dead_letters_fail_with_exit_code_1():
    missing = system_report("a", EXPECTED, 6, GOOD[:2], DEAD)
    assert missing["missing"] == 1 and not missing["ok"]
    twice = system_report("b", EXPECTED, 6, GOOD + [record("A", 1, record_id="other-id")], DEAD)
    assert twice["duplicates_after_dedup"] == 1 and not twice["ok"]
    wrong_reason = system_report("c", EXPECTED, 6, GOOD, [letter("C", 1, "region_unknown"), DEAD[1]])
    assert wrong_reason["dead_missing"] == 1 and wrong_reason["dead_unexpected"] == 1 and not wrong_reason["ok"]
    extra = system_report("d", EXPECTED, 6, GOOD, DEAD + [letter("A", 1, "date_order", "8")])
    assert extra["dead_unexpected"] == 1 and not extra["ok"]
    clean = system_report("e", EXPECTED, 6, GOOD, DEAD)
    for bad in (missing, twice, wrong_reason, extra):
        doc, code = summarize([clean, bad])
        assert code == 1 and doc["ok"] is False and doc["systems"]["e"]["ok"] is True
    assert summarize([]) == ({"ok": False, "totals": {k: 0 for k in summarize([])[0]["totals"]}, "systems": {}}, 1)


def test_unkeyed_dead_letters_are_matched_by_reason():
    distinct, unexpected = dead_letter_check({("D", 1): "encoding"}, [letter(None, None, "encoding"),
                                                                      letter(None, None, "encoding", "10")])
    assert distinct == {"encoding": 2} and unexpected == 1


def test_a_sink_is_ok_when_it_drained_running_without_dead_letters_and_shows_repeat_receptions():
    import io
    from types import SimpleNamespace

    from ops.demo.check import print_table, sink_report

    system = SimpleNamespace(feedback={"d1": {}, "d2": {}}, feedback_duplicates=1)
    inst = SimpleNamespace(connector="complaint-feedback", simulator=system)
    status = {"state": "RUNNING", "counters": {"polled": 9, "produced": 2}}
    report = sink_report(inst, status, {"complaint-feedback": True})
    assert report["ok"] and (report["received_by_system"], report["received_again"]) == (2, 1)
    doc, code = summarize([report], duration_s=1)
    out = io.StringIO()
    print_table(doc, out)
    assert code == 0 and "received by the system 2 distinct (+1 again, same delivery id)  yes" in out.getvalue()
    failing = sink_report(inst, {"state": "RUNNING", "counters": {"dead_lettered": 1}}, None)
    assert not failing["ok"] and summarize([failing])[1] == 1
