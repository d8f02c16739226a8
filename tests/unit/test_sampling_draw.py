"""The published draw algorithm: reproducible, bound to its pools and seed, verifiable."""

from __future__ import annotations

import copy
import hashlib
import hmac

import pytest

from hub_api.sampling import draw as algo

SEED = bytes(range(32))


def objects(n: int, region: str = "330102") -> list[tuple[str, dict]]:
    return [(f"91330100MA{i:08d}", {"industry_code": "F52", "kind": "enterprise", "region_code": region,
                                    "risk_grade_code": "B"}) for i in range(n)]


def inspectors(n: int, region: str = "330100") -> list[tuple[str, dict]]:
    return [(f"ZJ{i:06d}", {"department_code": "scjg", "domains": ["market"], "region_code": region})
            for i in range(n)]


def published(objs, ins, *, ratio=None, count=None, k=2, same_region=None, conflicts=(), seed=SEED) -> dict:
    oh, ih = algo.snapshot_hash(objs), algo.snapshot_hash(ins)
    rules = algo.Rules(k, same_region, {(c, o): r for c, o, r in conflicts})
    ratio = "0.1" if ratio is None and count is None else ratio
    n = algo.sample_size(len(objs), ratio, count)
    drawn = algo.run_draw(seed, oh, objs, n, ih, ins, rules)
    return {"algorithm": algo.ALGORITHM, "seed": seed.hex(), "seed_commitment": algo.seed_commitment(seed),
            "selection": {"ratio": ratio, "count": count}, "inspectors_per_object": k,
            "recusal": {"same_region": same_region,
                        "conflicts": [{"certificate_number": c, "object_id": o, "reason": r} for c, o, r in conflicts]},
            "objects": {"snapshot_hash": oh, "size": len(objs), "entries": [list(e) for e in objs]},
            "inspectors": {"snapshot_hash": ih, "size": len(ins), "entries": [list(e) for e in ins]},
            "draw": [d.as_dict() for d in drawn]}


def test_rerunning_a_published_draw_gives_the_same_result():
    pub = published(objects(200), inspectors(30))
    again = published(objects(200), inspectors(30))
    assert pub["draw"] == again["draw"]
    assert len(pub["draw"]) == 20
    assert algo.verify(pub).as_dict() == {"verified": True, "diffs": []}


def test_a_changed_pool_gives_a_different_snapshot_hash_and_draw():
    base = objects(200)
    changed = copy.deepcopy(base)
    changed[17][1]["risk_grade_code"] = "A"
    assert algo.snapshot_hash(base) != algo.snapshot_hash(changed)
    assert algo.snapshot_hash(base) != algo.snapshot_hash(base[:-1])
    assert algo.snapshot_hash(inspectors(5)) != algo.snapshot_hash(inspectors(6))
    assert published(base, inspectors(10))["draw"] != published(changed, inspectors(10))["draw"]


def test_snapshot_hash_is_sha256_of_canonical_lines():
    entries = [("A1", {"region_code": "330102", "kind": "enterprise"}), ("B2", {"kind": "个体", "region_code": None})]
    text = '["A1",{"kind":"enterprise","region_code":"330102"}]\n["B2",{"kind":"个体","region_code":null}]\n'
    assert algo.snapshot_hash(entries) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert list(algo.parse_lines(text.encode("utf-8"))) == [(k, dict(f)) for k, f in entries]


def test_pool_must_be_sorted_and_unique():
    with pytest.raises(ValueError):
        algo.snapshot_hash([("B", {}), ("A", {})])
    with pytest.raises(ValueError):
        algo.snapshot_hash([("A", {}), ("A", {})])


def test_objects_are_the_lowest_hmac_scores_documented_in_the_module():
    objs = objects(50)
    oh = algo.snapshot_hash(objs)
    scores = sorted((hmac.new(SEED, f"object\n{oh}\n{k}".encode(), hashlib.sha256).digest(), k) for k, _ in objs)
    assert [k for k, _ in algo.select_objects(SEED, oh, objs, 7)] == [k for _, k in scores[:7]]


def test_a_different_seed_draws_differently_and_commitment_matches_seed():
    a = published(objects(300), inspectors(20))
    b = published(objects(300), inspectors(20), seed=b"\x01" * 32)
    assert a["draw"] != b["draw"]
    assert a["seed_commitment"] == hashlib.sha256(SEED).hexdigest()


@pytest.mark.parametrize(("n", "ratio", "count", "expected"), [
    (1000, "0.05", None, 50), (1001, "0.05", None, 51), (19, "0.05", None, 1), (3, "1", None, 3),
    (10, "0.1", None, 1), (1, "0.000001", None, 1), (0, "0.05", None, 0),
    (10, None, 3, 3), (10, None, 50, 10),
])
def test_sample_size_is_ceil_of_ratio_or_capped_count(n, ratio, count, expected):
    assert algo.sample_size(n, ratio, count) == expected


@pytest.mark.parametrize(("ratio", "count"), [(None, None), ("0.1", 3), ("0", None), ("1.5", None), (None, 0),
                                              ("abc", None)])
def test_sample_size_rejects_bad_selections(ratio, count):
    with pytest.raises(ValueError):
        algo.sample_size(10, ratio, count)


def test_every_object_gets_k_distinct_inspectors():
    pub = published(objects(100), inspectors(7), ratio="0.5", k=3)
    assert len(pub["draw"]) == 50
    for d in pub["draw"]:
        assert len(d["inspectors"]) == 3 == len(set(d["inspectors"]))
    # teams are random per object, not one fixed team
    assert len({tuple(d["inspectors"]) for d in pub["draw"]}) > 5


def test_fewer_than_two_inspectors_per_object_is_refused():
    with pytest.raises(ValueError):
        algo.Rules(inspectors_per_object=1)


def test_pool_too_small_for_the_team_size():
    objs, ins = objects(10), inspectors(1)
    with pytest.raises(algo.DrawError) as err:
        algo.run_draw(SEED, algo.snapshot_hash(objs), objs, 2, algo.snapshot_hash(ins), ins, algo.Rules())
    assert err.value.reason == "pool_too_small"


def test_listed_conflicts_are_recused_and_recorded():
    objs, ins = objects(20), inspectors(4)
    free = published(objs, ins, count=20)
    # make the first drawn member of every team conflicted: each must be replaced and recorded
    conflicts = [(d["inspectors"][0], d["object_id"], "relative") for d in free["draw"]]
    pub = published(objs, ins, count=20, conflicts=conflicts)
    for d, c in zip(pub["draw"], conflicts, strict=True):
        assert c[0] not in d["inspectors"]
        assert {"certificate_number": c[0], "reason": "conflict:relative"} in d["recused"]
        assert len(d["inspectors"]) == 2
    assert algo.verify(pub).verified


def test_same_county_rule_recuses_local_officers():
    objs = objects(30, region="330102")
    ins = [(f"ZJ{i:06d}", {"department_code": "d", "domains": [], "region_code": "330102" if i % 2 else "330103"})
           for i in range(10)]
    pub = published(objs, ins, count=30, same_region="county")
    local = {k for k, f in ins if f["region_code"] == "330102"}
    for d in pub["draw"]:
        assert not set(d["inspectors"]) & local
        assert all(r["reason"] == "same_county" and r["certificate_number"] in local for r in d["recused"])
    assert any(d["recused"] for d in pub["draw"])
    with pytest.raises(algo.DrawError):  # every officer is in the objects' city 3301
        published(objs, ins, count=3, same_region="city")


def test_no_eligible_team_after_recusal_is_an_error():
    objs = objects(5, region="330102")
    ins = inspectors(5, region="330102")
    with pytest.raises(algo.DrawError) as err:
        published(objs, ins, count=1, same_region="county")
    assert err.value.reason == "team_incomplete"


def test_verify_detects_a_tampered_draw_seed_and_pool():
    pub = published(objects(100), inspectors(10))
    swapped = copy.deepcopy(pub)
    swapped["draw"][0]["inspectors"] = ["ZJ999999", swapped["draw"][0]["inspectors"][1]]
    assert not algo.verify(swapped).verified
    assert "draw_index 0" in algo.verify(swapped).diffs[0]

    other_object = copy.deepcopy(pub)
    drawn = {d["object_id"] for d in pub["draw"]}
    other_object["draw"][3]["object_id"] = next(k for k, _ in objects(100) if k not in drawn)
    assert not algo.verify(other_object).verified

    seed = copy.deepcopy(pub)
    seed["seed"] = (b"\x02" * 32).hex()
    result = algo.verify(seed)
    assert not result.verified and "commitment" in result.diffs[0]

    pool = copy.deepcopy(pub)
    pool["objects"]["entries"].pop()
    result = algo.verify(pool)
    assert not result.verified and any("snapshot hash" in d for d in result.diffs)

    shorter = copy.deepcopy(pub)
    shorter["draw"].pop()
    assert not algo.verify(shorter).verified


def test_team_stream_uniform_is_in_range_and_deterministic():
    a = algo.TeamStream(SEED, "i", "o", "k")
    b = algo.TeamStream(SEED, "i", "o", "k")
    xs = [a.uniform(7) for _ in range(500)]
    assert xs == [b.uniform(7) for _ in range(500)]
    assert set(xs) == set(range(7))
