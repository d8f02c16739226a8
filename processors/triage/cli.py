"""``hub rules test FILE``: run a rule set over sample records and show which rule fired and why.

FILE is a JSON list of samples ``{"topic": "complaint.tickets" | "grassroots.events",
"record": {...}, "industry_code": "Q8415"?, "expect": "rule-id"?}``; ``record`` needs only the
fields the rules read (ticket_id / event_id, text or title + description, category, region_code,
kind). ``industry_code`` stands in for the ``entities`` look-up. Exit 0 when every sample with an
``expect`` fired that rule, 1 otherwise, 2 for an unreadable file or an invalid rule set.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from processors.triage.engine import TOPIC_SOURCE, explain, subject_of
from processors.triage.rules import DATA, load_rules

SAMPLES = Path(__file__).parent / "data" / "samples.json"


def run(samples_path: str, rules_path: str | None = None) -> tuple[int, list[dict]]:
    """(exit code, one result dict per sample). Raises ValueError for unusable input."""
    try:
        rules = load_rules(rules_path or DATA)
    except ValidationError as exc:
        raise ValueError(f"invalid rule set {rules_path or DATA}:\n{exc}") from None
    samples = json.loads(Path(samples_path).read_text(encoding="utf-8"))
    if not isinstance(samples, list):
        raise ValueError("the sample file must hold a JSON list")
    results, failed = [], 0
    for i, sample in enumerate(samples):
        topic = sample.get("topic")
        if topic not in TOPIC_SOURCE:
            raise ValueError(f"sample {i}: topic must be one of {', '.join(TOPIC_SOURCE)}")
        subject = subject_of(topic, sample.get("record") or {}, sample.get("industry_code"))
        decision = explain(rules, subject)
        out = {"sample": i, "source": subject.source, "id": subject.source_id, **decision.as_dict(),
               "not_matched": list(decision.considered)}
        if "expect" in sample:
            out["expected"] = sample["expect"]
            out["ok"] = sample["expect"] == decision.rule.id
            failed += not out["ok"]
        results.append(out)
    return (1 if failed else 0), results


def render(results: list[dict]) -> str:
    lines = []
    for r in results:
        mark = "" if "ok" not in r else ("  ok" if r["ok"] else f"  MISMATCH (expected {r['expected']})")
        depts = ", ".join(f"{d['code']} {d['name']}" for d in r["departments"])
        lines.append(f"[{r['sample']}] {r['source']} {r['id']}: rule {r['rule']} -> {r['form']}{mark}")
        lines.append(f"    why: {'; '.join(r['reasons'])}")
        lines.append(f"    departments: {depts}")
        for miss in r["not_matched"]:
            lines.append(f"    skipped {miss}")
    return "\n".join(lines)
