"""Demo systems the hub reaches through data stores, drops, pushes and a second Kafka:
ecology (SQL, updated_at), drug administration (national upload table), emergency management
(GB18030 CSV drops), natural resources (daily XML batches), transport (HMAC-signed pushes),
the road-transport risk platform (UTF-8 CSV drops) and comprehensive enforcement (its own
Kafka topic on a second embedded broker).

Each ``make(env)`` builds (and, except for the push system, starts) the simulator and returns
the placeholder values of its ``connectors/systems/<name>.json``. SQL systems live in
``env.database_url`` or their own SQLite file in ``env.workdir``; drops in a directory under
``env.workdir``; transport pushes to ``{env.hub_url}/connect/push/transport`` once ``start()``
is called (after its connector is registered); the enforcement simulator's ``stop()`` also
stops its broker.
"""

from __future__ import annotations

from ops.demo.systems import DemoEnv, RunningSystem, SystemSpec
from ops.simulators.drug_admin import DrugAdminSimulator
from ops.simulators.ecology import EcologySimulator
from ops.simulators.emergency import EmergencySimulator
from ops.simulators.enforcement_kafka import EnforcementKafkaSimulator
from ops.simulators.natural_resources import NaturalResourcesSimulator
from ops.simulators.risk_road_transport import RoadTransportSimulator
from ops.simulators.transport import TransportSimulator

TRANSPORT_CONNECTOR = "transport"
"""Name of the transport connector in ``connectors/systems/transport.json`` (its push URL)."""
TRANSPORT_SECRET = "demo-transport-hmac-secret-0001"


def _common(env: DemoEnv, name: str) -> dict:
    return {"seed": env.seed, "count": env.count, "bad_ratio": env.bad_ratio,
            "ledger_path": env.workdir / f"{name}.ledger.jsonl"}


def _db_url(env: DemoEnv, name: str) -> str:
    return env.database_url or f"sqlite:///{env.workdir / f'{name}.db'}"


def _ecology(env: DemoEnv) -> RunningSystem:
    kw = _common(env, "ecology")
    sim = EcologySimulator(kw.pop("seed"), kw.pop("count"), url=_db_url(env, "ecology"), **kw)
    return RunningSystem(sim, {"ECOLOGY_DB_URL": sim.start()})


def _drug_admin(env: DemoEnv) -> RunningSystem:
    kw = _common(env, "drug_admin")
    sim = DrugAdminSimulator(kw.pop("seed"), kw.pop("count"), url=_db_url(env, "drug_admin"), **kw)
    return RunningSystem(sim, {"DRUG_ADMIN_DB_URL": sim.start()})


def _emergency(env: DemoEnv) -> RunningSystem:
    kw = _common(env, "emergency")
    sim = EmergencySimulator(kw.pop("seed"), kw.pop("count"), directory=env.workdir / "drops" / "emergency", **kw)
    return RunningSystem(sim, {"EMERGENCY_DROP_DIR": sim.start()})


def _natural_resources(env: DemoEnv) -> RunningSystem:
    kw = _common(env, "natural_resources")
    sim = NaturalResourcesSimulator(kw.pop("seed"), kw.pop("count"),
                                    directory=env.workdir / "drops" / "natural_resources", **kw)
    return RunningSystem(sim, {"NATURAL_RESOURCES_DROP_DIR": sim.start()})


def _transport(env: DemoEnv) -> RunningSystem:
    kw = _common(env, "transport")
    sim = TransportSimulator(kw.pop("seed"), kw.pop("count"), secret=TRANSPORT_SECRET,
                             webhook_url=f"{env.hub_url.rstrip('/')}/connect/push/{TRANSPORT_CONNECTOR}", **kw)
    return RunningSystem(sim, {"TRANSPORT_HMAC_SECRET": TRANSPORT_SECRET}, start=sim.start)


def _risk_road_transport(env: DemoEnv) -> RunningSystem:
    kw = _common(env, "risk_road_transport")
    sim = RoadTransportSimulator(kw.pop("seed"), kw.pop("count"),
                                 directory=env.workdir / "drops" / "risk_road_transport", **kw)
    return RunningSystem(sim, {"RISK_ROAD_TRANSPORT_DROP_DIR": sim.start()})


def _enforcement(env: DemoEnv) -> RunningSystem:
    kw = _common(env, "enforcement")
    sim = EnforcementKafkaSimulator(kw.pop("seed"), kw.pop("count"),
                                    broker_log=env.workdir / "enforcement-broker" / "tansu.log", **kw)
    endpoint = sim.start()  # its own broker; sim.stop() stops it
    return RunningSystem(sim, {"ENFORCEMENT_KAFKA_BOOTSTRAP": endpoint.bootstrap,
                               "ENFORCEMENT_KAFKA_TOPIC": endpoint.topic})


SPECS = [
    SystemSpec("ecology", "生态环境 ecology & environment — SQL table polled by updated_at + id", "ecology.json",
               _ecology),
    SystemSpec("drug_admin", "药品监管 drug administration — national upload table (cd_batch / cd_operation)",
               "drug_admin.json", _drug_admin),
    SystemSpec("emergency", "应急管理 emergency management — GB18030 CSV drops with Chinese headers",
               "emergency.json", _emergency),
    SystemSpec("natural_resources", "自然资源 natural resources — daily XML batch files", "natural_resources.json",
               _natural_resources),
    SystemSpec("transport", "交通运输 transport — pushes HMAC-signed JSON to the hub", "transport.json", _transport),
    SystemSpec("risk_road_transport", "道路运输监控 road-transport risk platform — UTF-8 CSV alarm drops",
               "risk_road_transport.json", _risk_road_transport),
    SystemSpec("enforcement", "综合行政执法 comprehensive enforcement — JSON on its own Kafka (second broker)",
               "enforcement.json", _enforcement),
]
