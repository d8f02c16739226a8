"""SQL-table and file-drop simulators: real SQLite / PostgreSQL tables, real files."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest
import sqlalchemy as sa

from ops.simulators.drug_admin import DrugAdminSimulator
from ops.simulators.ecology import EcologySimulator
from ops.simulators.emergency import COLUMNS, EmergencySimulator
from schemas.codes import is_valid_batch

pytestmark = pytest.mark.integration


def _ledger_keys(sim):
    return Counter((e["key"], e["version"]) for e in sim.ledger.entries)


def test_ecology_polling_by_updated_at_sees_every_emission(database_url):
    sim = EcologySimulator(8, 150, url=database_url, duplicate_ratio=0.08, out_of_order_ratio=0.05)
    sim.start()
    t = sim.table
    seen: Counter = Counter()
    last = (None, 0)

    def poll():
        nonlocal last
        q = sa.select(t.c.id, t.c.case_code, t.c.row_version, t.c.updated_at).order_by(t.c.updated_at, t.c.id)
        if last[0] is not None:
            q = q.where(sa.tuple_(t.c.updated_at, t.c.id) > sa.tuple_(sa.literal(last[0]), sa.literal(last[1])))
        with sim.engine.connect() as c:
            rows = c.execute(q).all()
        for r in rows:
            seen[(r.case_code, r.row_version)] += 1
        if rows:
            last = (rows[-1].updated_at, rows[-1].id)
        return len(rows)

    try:
        assert poll() == 150 - sum(e["defect"] == "duplicate" for e in sim.ledger.entries)
        with sim.engine.connect() as c:
            before = c.execute(sa.select(sa.func.count()).select_from(t)).scalar()
        sim.tick(40)
        with sim.engine.connect() as c:
            after = c.execute(sa.select(sa.func.count()).select_from(t)).scalar()
        assert after > before
        poll()
        # a duplicate that touched a row seen in the same poll is seen once, so compare sets
        assert set(seen) == set(_ledger_keys(sim))
        assert any(e["defect"] == "duplicate" for e in sim.ledger.entries)
    finally:
        sim.stop()


def test_drug_admin_upload_batches(tmp_path):
    sim = DrugAdminSimulator(9, 300, url=f"sqlite:///{tmp_path / 'yj.db'}")
    sim.start()
    sim.tick(25)
    try:
        t = sim.table
        with sim.engine.connect() as c:
            rows = c.execute(sa.select(t).order_by(t.c.cd_batch, t.c.cd_id)).all()
        assert len(rows) == 325
        assert {r.cd_operation for r in rows} <= {"I", "U", "D"} and "I" in {r.cd_operation for r in rows}
        assert all(is_valid_batch(r.cd_batch) for r in rows)
        assert len({r.cd_batch for r in rows}) == 2
        assert Counter((r.xzcf_id, r.bbh) for r in rows) == _ledger_keys(sim)
        assert all(r.bbh == 1 for r in rows if r.cd_operation == "I")
    finally:
        sim.stop()


def test_emergency_csv_drops_are_gb18030(tmp_path):
    sim = EmergencySimulator(10, 120, directory=tmp_path / "drop", batch_size=50)
    where = sim.start()
    sim.emit(10)
    sim.stop()
    files = sorted(p for p in (tmp_path / "drop").iterdir())
    assert where == str(tmp_path / "drop") and len(files) == 4
    assert not any(p.name.startswith(".") for p in files)  # temp files renamed away
    keys: Counter = Counter()
    for p in files:
        raw = p.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        reader = csv.reader(io.StringIO(raw.decode("gb18030"), newline=""))
        assert next(reader) == COLUMNS
        for row in reader:
            rec = dict(zip(COLUMNS, row, strict=True))
            keys[(rec["案件编号"], int(rec["版本号"]))] += 1
    assert keys == _ledger_keys(sim)
