"""Demo systems that speak SOAP: the taxation penalty system."""

from __future__ import annotations

from ops.demo.systems import DemoEnv, RunningSystem, SystemSpec
from ops.simulators.taxation import PATH, TaxationSimulator


def _taxation(env: DemoEnv) -> RunningSystem:
    sim = TaxationSimulator(seed=env.seed, count=env.count, bad_ratio=env.bad_ratio,
                            ledger_path=env.workdir / "taxation.ledger.jsonl")
    url = sim.start()
    return RunningSystem(sim, {"TAXATION_WSDL_URL": f"{url}{PATH}?wsdl"})


SPECS = [
    SystemSpec("taxation", "税务 taxation — SOAP/XML web service (WSDL via zeep)", "taxation.json", _taxation),
]
