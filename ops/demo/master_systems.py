"""Demo systems that own the master data: the market-entity register, the officer and
certificate system and the supervision item catalog.

Sizes come from :class:`~ops.demo.systems.DemoEnv` (``entities``, ``officers``, ``items``;
defaults: the 60,000-entity demo pool, 2,400 officers, 200 items) -- not from ``count``, which
sizes the event-driven systems: the register starts with its whole initial load (every pool
entity's registration) and ``count`` changes, the officer system with every certificate's
issuance and ``count`` later events, the catalog with every item's first version and
``count`` new versions.  The penalty and complaint simulators draw their parties from the
same pool (:func:`~ops.simulators.entity_pool.shared_pool` of the seed), so the hub merges
records of one entity from several systems.
"""

from __future__ import annotations

from ops.demo.systems import DemoEnv, RunningSystem, SystemSpec
from ops.simulators.base import now_cst
from ops.simulators.entity_pool import shared_pool
from ops.simulators.item_catalog import ItemCatalogSimulator
from ops.simulators.market_entities import MarketEntitySimulator
from ops.simulators.officer_certs import OfficerCertSimulator

# Demo-only credentials (the simulators' defaults); production values come from the operator.
MARKET_ENTITIES_TOKEN = "scjg-reg-token"
ITEM_CATALOG_API_KEY = "catalog-sim-key"


def _kw(env: DemoEnv, name: str) -> dict:
    return {"seed": env.seed, "count": env.count, "bad_ratio": env.bad_ratio,
            "ledger_path": env.workdir / f"{name}.ledger.jsonl"}


def _market_entities(env: DemoEnv) -> RunningSystem:
    sim = MarketEntitySimulator(**_kw(env, "market_entities"), pool=shared_pool(env.seed, env.entities),
                                token=MARKET_ENTITIES_TOKEN)
    return RunningSystem(sim, {"MARKET_ENTITIES_BASE_URL": sim.start(), "MARKET_ENTITIES_TOKEN": MARKET_ENTITIES_TOKEN})


def _officer_certs(env: DemoEnv) -> RunningSystem:
    kw = _kw(env, "officer_certs")
    # The initial load is every issuance plus ``count`` later events; validity relative to today,
    # so the demo shows expired and soon-expiring certificates.
    kw["count"] = env.officers + env.count
    sim = OfficerCertSimulator(**kw, url=env.database_url or f"sqlite:///{env.workdir / 'officer_certs.db'}",
                               officers=env.officers, anchor=now_cst().date())
    return RunningSystem(sim, {"OFFICER_CERTS_DB_URL": sim.start()})


def _item_catalog(env: DemoEnv) -> RunningSystem:
    kw = _kw(env, "item_catalog")
    kw["count"] = env.items + env.count
    sim = ItemCatalogSimulator(**kw, items=env.items, api_key=ITEM_CATALOG_API_KEY)
    return RunningSystem(sim, {"ITEM_CATALOG_BASE_URL": sim.start(), "ITEM_CATALOG_API_KEY": ITEM_CATALOG_API_KEY})


SPECS = [
    SystemSpec("market_entities", "市场主体登记 market-entity register — HTTP JSON pull, cursor paging, bearer token",
               "market_entities.json", _market_entities),
    SystemSpec("officer_certs", "执法证件管理 officers & certificates — upload table (cd_batch / cd_operation)",
               "officer_certs.json", _officer_certs),
    SystemSpec("item_catalog", "监管事项目录 supervision item catalog — HTTP JSON pull, page numbers, API key",
               "item_catalog.json", _item_catalog),
]
