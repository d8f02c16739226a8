"""The log's hash chain: verify passes, then finds an edited, re-hashed or deleted entry."""

import pytest
import sqlalchemy as sa

from hub_api.db import Database
from hub_api.federation import chain
from hub_api.federation.models import log
from tests.unit.test_federation_inbound import T0


@pytest.fixture
def engine(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    db.create_schema()
    for i in range(5):
        chain.with_retry(db.engine, lambda conn, i=i: chain.append(
            conn, at=T0, direction="in", peer="330000", kind="request", body=f'{{"n":{i}}}', signature=f"s{i}"))
    yield db.engine
    db.engine.dispose()


def _verify(engine):
    with engine.connect() as conn:
        return chain.verify(conn)


def test_intact_chain_verifies(engine):
    report = _verify(engine)
    assert report.ok and report.entries == 5 and report.first_bad_seq is None


@pytest.mark.parametrize("column,value", [("body", '{"n":99}'), ("signature", "forged"), ("peer", "310000"),
                                          ("kind", "ack"), ("at", "2025-03-01T08:00:01.000000+00:00")])
def test_an_edited_entry_is_found(engine, column, value):
    with engine.begin() as conn:
        conn.execute(log.update().where(log.c.seq == 3).values({column: value}))
    report = _verify(engine)
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 3, 2)


def test_an_edited_and_rehashed_entry_is_still_found(engine):
    with engine.begin() as conn:
        row = dict(conn.execute(sa.select(log).where(log.c.seq == 2)).mappings().one())
        row["body"] = '{"n":-1}'
        conn.execute(log.update().where(log.c.seq == 2).values(body=row["body"],
                                                               hash=chain.entry_hash(row["prev_hash"], row)))
    report = _verify(engine)
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_a_deleted_entry_is_found(engine):
    with engine.begin() as conn:
        conn.execute(log.delete().where(log.c.seq == 4))
    report = _verify(engine)
    assert (report.ok, report.first_bad_seq) == (False, 4)


def test_the_cli_exits_1_on_a_broken_chain(engine, monkeypatch, capsys):
    from ops.cli import main

    monkeypatch.setenv("HUB_DATABASE_URL", str(engine.url))
    assert main(["federation", "verify"]) == 0
    with engine.begin() as conn:
        conn.execute(log.update().where(log.c.seq == 5).values(body="{}"))
    assert main(["federation", "verify"]) == 1
    out = capsys.readouterr().out
    assert "intact: 5 entries" in out and "BROKEN at entry 5" in out
