"""Smoke test of the registry scale benchmark (``ops.bench.registry_scale_bench``) at N=2,000.

The 1,000,000-entity run is a manual benchmark; this checks that its loader writes what the
processors would on both databases (links re-derived from the stored items match the
loaded ones) and that its figures are sane (whole run on SQLite).
"""

from __future__ import annotations

import math

import sqlalchemy as sa

from hub_api.db import Database
from ops.bench import registry_scale_bench as bench
from processors.entities import links
from processors.entities.merge import is_pseudonym
from schemas import codes

N = 2_000


def test_loader_writes_what_the_processors_would_derive(database_url):
    db = Database(database_url)
    db.create_schema()
    load = bench.populate(db.engine, N, n_items=30, n_officers=500, chunk=700, quiet=True)
    with db.engine.connect() as conn:
        entities = conn.execute(sa.text("select entity_id, kind, industry_code, region_code from entities")).all()
        stored = {r[0] for r in conn.execute(sa.text("select link_id from entity_item_links where active = true"))}
        index = links.ItemIndex.load(conn)
        officers = conn.execute(sa.text("select count(*) from officers where status = 'valid'")).scalar_one()
    db.dispose()
    assert len(entities) == N and load["entities"] == N and officers == 500
    assert len(index.items) == 30 == load["items"]
    assert {r.region_code for r in entities} == set(bench.zhejiang_counties())  # every county of the 11 cities
    for eid, kind, _, _ in entities:
        assert is_pseudonym(eid) if kind == "natural_person" else codes.is_valid_uscc(eid), (eid, kind)
    derived = {lid for r in entities for lid in links.derive(r.entity_id, r.industry_code, r.region_code, index)}
    assert stored == derived and len(stored) == load["links"]
    assert {lid.split("|")[0] for lid in stored} == {r.entity_id for r in entities}  # every entity is linked


def test_benchmark_figures_are_sane(tmp_path):
    r = bench.run(N, queries=60, page_queries=10, n_items=30, n_officers=500, chunk=700, workdir=tmp_path,
                  quiet=True)
    for name in ("who_supervises", "whom_supervise"):
        q = r[name]
        assert 0 < q["p50_ms"] <= q["p99_ms"] <= q["max_ms"], q
        assert q["per_s"] > 0
    assert r["who_supervises"]["n"] == 60 and r["who_supervises"]["links_per_entity"] >= 1
    draw = r["draw"]
    assert draw["object_pool"] == N and draw["drawn"] == math.ceil(0.05 * N) and draw["inspector_pool"] == 500
    assert draw["verified"] is True and draw["draw_s"] > 0 and draw["verify_s"] > 0
    assert r["db_size_mb"] > 0 and r["rss_mb"]["peak"] >= r["rss_mb"]["after_load"] > 0
    assert r["scaling_10m"]["entities"] == 10 * N and r["scaling_10m"]["drawn"] == math.ceil(0.05 * 10 * N)
    assert "EXTRAPOLATED" in bench.table(r)
