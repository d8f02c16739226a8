"""Transport (交通运输) penalty system: pushes HMAC-signed JSON to the hub's webhook.

Each event is one ``POST <webhook_url>`` with body (UTF-8 JSON)::

    {"delivery_id": "transport-000017", "case": {"case_no": ..., "revision": 3, ...}}

and headers ``Content-Type: application/json``, ``X-Hub-Timestamp: <unix seconds>``,
``X-Hub-Delivery-Id: <delivery_id>`` and ``X-Hub-Signature: sha256=<hex>`` -- HMAC-SHA256 with
the shared ``secret`` over ``f"{timestamp}.{body}"`` (the hub's convention,
:mod:`connectors.sinks.signing`, so a replayed body with a new timestamp does not verify).  A non-2xx answer or a connection error is
retried (up to ``retries`` times, backoff 0.05 s doubling) with the same body and delivery id;
an event is recorded in the ledger once, when first pushed (``position`` = delivery id).

``case`` fields (snake English): ``case_no`` (source key), ``revision`` (version), ``action``
``create``/``update``/``delete``, ``stage``, ``stage_at`` (ISO 8601 ``+08:00``), ``title``,
``clue_source``, ``party`` {``kind`` enterprise/person, ``name``, ``credit_code`` | ``id_card``,
``representative``, ``address``}, ``area_code``, ``item_code``, ``impl_code``, ``agency``
{``name``, ``credit_code``}, ``officers`` [{``name``, ``cert_no``}], ``inspection_no``,
``facts``, ``basis``, ``procedure``, ``filed_on``, ``noticed_on``, ``decided_on``,
``closed_on``, ``referred_on`` (``yyyy-MM-dd``), ``decision_no``, ``penalty`` {``code``,
``name``, ``fine``, ``result``}, ``execution`` {``mode``, ``paid``}, ``reason``, ``doc_no``.
``gb18030_in_utf8`` does not apply (JSON).
"""

from __future__ import annotations

import json
import threading

import httpx

from ops.simulators.base import Simulator, cli, fmt, sim_options
from ops.simulators.cases import SimEvent
from ops.simulators.push import SignedPusher

D = "%Y-%m-%d"
ACTIONS = {"i": "create", "u": "update", "d": "delete"}


class TransportSimulator(SignedPusher, Simulator):
    system = "transport"
    department_code = "330000JTT"
    agency_kind = "交通运输局"

    def __init__(self, *args, webhook_url: str, secret: str = "transport-sim-secret",
                 interval: float = 0.0, retries: int = 5, **kw):
        super().__init__(*args, **kw)
        self.webhook_url, self.secret = webhook_url, secret
        self.interval, self.retries = interval, retries
        self.delivered = 0
        self.failed = 0
        self._client = httpx.Client(timeout=10)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def payload(self, ev: SimEvent) -> dict:
        f = ev.fields
        person = f["party_type"] == "person"
        return {
            "case_no": f["case_number"], "revision": ev.version, "action": ACTIONS[ev.operation],
            "stage": ev.stage, "stage_at": f["stage_time"].isoformat(timespec="seconds") + "+08:00",
            "title": f["penalty_name"], "clue_source": f["case_source_name"],
            "party": {"kind": f["party_type"], "name": f["party_name"],
                      ("id_card" if person else "credit_code"): f["party_id"],
                      "representative": f["party_legal_rep"], "address": f["party_address"]},
            "area_code": f["region_code"], "item_code": f["catalog_code"],
            "impl_code": f["implementation_code"],
            "agency": {"name": f["agency_name"], "credit_code": f["agency_uscc"]},
            "officers": [{"name": f[f"officer{i}_name"], "cert_no": f[f"officer{i}_cert"]} for i in (1, 2)],
            "inspection_no": f["inspection_number"], "facts": f["facts"], "basis": f["legal_basis"],
            "procedure": f["procedure"], "filed_on": fmt(f["filing_date"], D),
            "noticed_on": fmt(f["notice_date"], D), "decided_on": fmt(f["decision_date"], D),
            "closed_on": fmt(f["closing_date"], D), "referred_on": fmt(f["referral_date"], D),
            "decision_no": f["decision_number"],
            "penalty": {"code": f["penalty_kind_code"], "name": f["penalty_kind_name"],
                        "fine": f["fine_amount"], "result": f["penalty_result"]},
            "execution": {"mode": f["execution_mode"], "paid": f["fine_paid"]},
            "reason": f["stage_reason"], "doc_no": f["stage_document_number"],
        }

    def publish(self, events: list[SimEvent]) -> None:
        for ev in events:
            if self._stop.is_set():
                return
            delivery = f"{self.system}-{len(self.ledger) + 1:06d}"
            body = json.dumps({"delivery_id": delivery, "case": self.payload(ev)},
                              ensure_ascii=False).encode("utf-8")
            self.ledger.record(ev, position=delivery)
            self._push(body, delivery)
            if self.interval:
                self._stop.wait(self.interval)

    def start(self) -> str:
        """Push the initial ``count`` events from a background thread; returns the webhook URL."""
        self._push_initial()
        return self.webhook_url

    def stop(self) -> None:
        self._stop.set()
        self.join(timeout=10)
        self._client.close()
        super().stop()


def main(argv=None) -> None:
    def extra(p):
        p.add_argument("--webhook", required=True, help="hub webhook URL to POST to")
        p.add_argument("--secret", default="transport-sim-secret")
        p.add_argument("--push-interval", type=float, default=0.0)

    cli(lambda a: TransportSimulator(**sim_options(a), webhook_url=a.webhook, secret=a.secret,
                                     interval=a.push_interval),
        "Simulated transport penalty system (pushes HMAC-signed JSON to a webhook)",
        extra=extra, argv=argv)


if __name__ == "__main__":
    main()
