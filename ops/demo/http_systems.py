"""Demo systems the hub pulls over HTTP JSON (declarative ``http-pull``), and the 12345 feedback sink.

Public security (cursor + bearer), health (page numbers + basic auth), market regulation (page
numbers, gzip), the unified case system (standard JSON, cursor + bearer), the 12345 complaint
platform (time windows + API key), the medical-waste risk system (page numbers + bearer) and
the grassroots platform in pull mode (cursor + bearer). The "complaint feedback" entry is the
``http-webhook`` sink that sends handling feedback back to the 12345 platform's receiver: it
shares the complaints entry's simulator (one platform per demo environment).
"""

from __future__ import annotations

import datetime as dt
import threading

from ops.demo.systems import DemoEnv, RunningSystem, SystemSpec
from ops.simulators.complaints import ComplaintSimulator
from ops.simulators.grassroots import GrassrootsSimulator
from ops.simulators.health import HealthSimulator
from ops.simulators.market_regulation import MarketRegulationSimulator
from ops.simulators.public_security import PublicSecuritySimulator
from ops.simulators.risk_medical_waste import MedicalWasteSimulator
from ops.simulators.unified_cases import UnifiedCasesSimulator

# Demo-only credentials (the simulators' defaults); production values come from the operator.
PUBLIC_SECURITY_TOKEN = "ps-sim-token"
HEALTH_USER, HEALTH_PASSWORD = "wjw", "wjw-sim"
UNIFIED_TOKEN = "unified-sim-token"
COMPLAINTS_API_KEY = "12345-sim-key"
COMPLAINTS_FEEDBACK_SECRET = "12345-feedback-secret"
RISK_MEDICAL_WASTE_TOKEN = "yf-sim-token"
GRASSROOTS_TOKEN = "grid-sim-token"
COMPLAINT_FEEDBACK_TOPIC = "complaint.tickets"
"""The topic the feedback sink delivers from (filtered to refused / replied / closed tickets)."""


def _ledger(env: DemoEnv, system: str):
    return env.workdir / f"{system}.ledger.jsonl"


def _sim_kw(env: DemoEnv, system: str) -> dict:
    return {"seed": env.seed, "count": env.count, "bad_ratio": env.bad_ratio, "ledger_path": _ledger(env, system)}


def _public_security(env: DemoEnv) -> RunningSystem:
    sim = PublicSecuritySimulator(**_sim_kw(env, "public_security"), token=PUBLIC_SECURITY_TOKEN)
    return RunningSystem(sim, {"PUBLIC_SECURITY_BASE_URL": sim.start(), "PUBLIC_SECURITY_TOKEN": PUBLIC_SECURITY_TOKEN})


def _health(env: DemoEnv) -> RunningSystem:
    sim = HealthSimulator(**_sim_kw(env, "health"), user=HEALTH_USER, password=HEALTH_PASSWORD)
    return RunningSystem(sim, {"HEALTH_BASE_URL": sim.start(), "HEALTH_USERNAME": HEALTH_USER,
                               "HEALTH_PASSWORD": HEALTH_PASSWORD})


def _market_regulation(env: DemoEnv) -> RunningSystem:
    sim = MarketRegulationSimulator(**_sim_kw(env, "market_regulation"))
    return RunningSystem(sim, {"MARKET_REGULATION_BASE_URL": sim.start()})


def _unified_cases(env: DemoEnv) -> RunningSystem:
    sim = UnifiedCasesSimulator(**_sim_kw(env, "unified_cases"), token=UNIFIED_TOKEN)
    return RunningSystem(sim, {"UNIFIED_CASES_BASE_URL": sim.start(), "UNIFIED_CASES_TOKEN": UNIFIED_TOKEN})


# One 12345 platform per demo environment: the pull connector and the feedback sink share it.
_complaint_platforms: dict[DemoEnv, tuple[ComplaintSimulator, str, dt.datetime]] = {}
_complaint_lock = threading.Lock()


def complaint_platform(env: DemoEnv) -> tuple[ComplaintSimulator, str, dt.datetime]:
    """The (started) 12345 simulator of ``env``, its base URL and the start of its first time window."""
    with _complaint_lock:
        entry = _complaint_platforms.get(env)
        if entry is None or entry[0]._server is None:  # none yet, or stopped by an earlier run
            since = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
            sim = ComplaintSimulator(**_sim_kw(env, "complaints"), api_key=COMPLAINTS_API_KEY,
                                     feedback_secret=COMPLAINTS_FEEDBACK_SECRET)
            entry = _complaint_platforms[env] = (sim, sim.start(), since)
        return entry


def _complaints(env: DemoEnv) -> RunningSystem:
    sim, url, since = complaint_platform(env)
    return RunningSystem(sim, {"COMPLAINTS_BASE_URL": url, "COMPLAINTS_API_KEY": COMPLAINTS_API_KEY,
                               "COMPLAINTS_SINCE": since.isoformat()})


def _complaint_feedback(env: DemoEnv) -> RunningSystem:
    sim, url, _ = complaint_platform(env)
    return RunningSystem(sim, {"COMPLAINT_FEEDBACK_URL": f"{url}/api/feedback",
                               "COMPLAINT_FEEDBACK_SECRET": COMPLAINTS_FEEDBACK_SECRET,
                               "COMPLAINT_FEEDBACK_TOPIC": COMPLAINT_FEEDBACK_TOPIC})


def _risk_medical_waste(env: DemoEnv) -> RunningSystem:
    sim = MedicalWasteSimulator(**_sim_kw(env, "risk_medical_waste"), token=RISK_MEDICAL_WASTE_TOKEN)
    return RunningSystem(sim, {"RISK_MEDICAL_WASTE_BASE_URL": sim.start(),
                               "RISK_MEDICAL_WASTE_TOKEN": RISK_MEDICAL_WASTE_TOKEN})


def _grassroots(env: DemoEnv) -> RunningSystem:
    sim = GrassrootsSimulator(**_sim_kw(env, "grassroots"), mode="pull", token=GRASSROOTS_TOKEN)
    return RunningSystem(sim, {"GRASSROOTS_BASE_URL": sim.start(), "GRASSROOTS_TOKEN": GRASSROOTS_TOKEN})


SPECS = [
    SystemSpec("public_security", "公安 public security — HTTP JSON pull, cursor paging, bearer token",
               "public_security.json", _public_security),
    SystemSpec("health", "卫生健康 health — HTTP JSON pull, page numbers, basic auth, yyyyMMdd / epoch ms",
               "health.json", _health),
    SystemSpec("market_regulation", "市场监管 market regulation — HTTP JSON pull, page numbers, gzip",
               "market_regulation.json", _market_regulation),
    SystemSpec("unified_cases", "统一办案 unified case system — standard JSON, cursor paging, bearer token",
               "unified_cases.json", _unified_cases),
    SystemSpec("complaints", "12345 complaint platform — HTTP JSON pull by time window, API key",
               "complaints.json", _complaints),
    SystemSpec("complaint_feedback", "12345 handling feedback — signed webhook sink back to the platform",
               "complaint_feedback.json", _complaint_feedback),
    SystemSpec("risk_medical_waste", "医疗废物 medical-waste risk clues — HTTP JSON pull, page numbers, bearer",
               "risk_medical_waste.json", _risk_medical_waste),
    SystemSpec("grassroots", "基层治理 grassroots grid events — HTTP JSON pull, cursor paging, bearer token",
               "grassroots.json", _grassroots),
]
