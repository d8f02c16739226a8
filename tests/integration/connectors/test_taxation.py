"""Taxation (SOAP) adapter against its simulator: every good case once, every bad one dead-lettered with its reason."""

import pytest

from connectors.taxation.config import TaxationConfig
from connectors.taxation.plugin import PLUGIN
from ops.simulators.reconcile import reconcile
from ops.simulators.taxation import PATH, TaxationSimulator
from tests.integration.connectors.harness import ConnectorRun

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_taxation_soap_cases_reconcile_with_the_simulator(live_hub, writer_client, kafka_bootstrap):
    sim = TaxationSimulator(seed=11, count=400, bad_ratio=0.08)
    url = sim.start()
    run = ConnectorRun(live_hub, writer_client, kafka_bootstrap, PLUGIN,
                       TaxationConfig(wsdl_url=f"{url}{PATH}?wsdl", page_size=150), source_system="taxation")
    try:
        assert run.drain() == len(sim.ledger)
        standard, dead = run.collect(expected=len(sim.ledger))
        report = reconcile("taxation", sim.ledger.expected(), len(sim.ledger), standard, dead)
        assert report["missing"] == 0 and report["unexpected"] == 0, report
        assert report["dead_missing"] == 0 and report["dead_observed"] == report["dead_expected"], report
        assert report["duplicates_after_dedup"] == 0 and report["ok"], report
        assert sum(report["dead_expected"].values()) > 5  # the run really exercised rejections
        assert all(d["value"].startswith(b"<") for d in dead)  # original <case> XML bytes

        # Restart: the task is closed and re-opened at the committed sequence number, so it
        # reads exactly the 30 cases emitted since, not the 400 before them.
        run.runner.close()
        more = sim.emit(30)
        assert run.drain() == len(more)
    finally:
        run.close()
        sim.stop()
