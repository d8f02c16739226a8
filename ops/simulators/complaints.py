"""The 12345 complaint / report platform (统一投诉举报平台): HTTP JSON pull by time window, plus a
signed feedback receiver so the hub's sink can close the loop.

Pull::

    GET /api/tickets?start=<ISO 8601>&end=<ISO 8601>[&page=<1-based>&page_size=<1..1000, default 100>]
    X-Api-Key: <key>                       (401 {"detail": "invalid api key"} without it)
    -> 200 {"code": 0, "message": "ok", "start": ..., "end": ..., "total": T, "page": N | null,
            "page_size": M | null, "pages": P, "tickets": [...]}

The window is ``[start, end)`` over ``syncTime``, the platform's commit stamp of each ticket
version.  Naive times are China Standard Time.  ``end`` must be after ``start`` and the window
at most 31 days (else 400).  Without ``page`` the whole window comes in one response (what a
window-only client such as the hub's ``http-pull`` ``time_window`` paging expects); with
``page`` the window is cut into pages of ``page_size`` in ``syncTime`` order.  ``syncTime`` is
wall-clock time at publication (strictly increasing, millisecond resolution, ISO 8601 with
``+08:00``): it is the only non-deterministic field, because a time-window client can only see
records stamped after the windows it already read.  A client must keep ``end`` a little in
the past (records are stamped when they become visible, never back-dated).

Ticket fields (camelCase): ``ticketNo`` (source key), ``version``, ``syncTime``, ``stage``
(``RECEIVED``/``ACCEPTED``/``REFUSED``/``DISPATCHED``/``HANDLING``/``REPLIED``/``SUPERVISING``/
``CLOSED``/``RETURN_VISIT``/``EVALUATED``; lower-cased it is the standard ``TicketStage``),
``stageName`` (Chinese), ``stageTime`` ``yyyy-MM-dd HH:mm:ss``, ``appealKind`` ``1`` 投诉
complaint / ``2`` 举报 report + ``appealKindName``, ``category`` {``code``, ``name``}
(:data:`~ops.simulators.tickets.CATEGORIES`), ``title``, ``content`` (free text), ``anonymous``,
``complainant`` {``name``, ``mobile``, ``idCardNo``, ``address``} (all ``null`` when anonymous;
personal information), ``target`` {``name``, ``creditCode``, ``address``}, ``areaCode``,
``channel`` {``code`` ``01`` hotline / ``02`` web / ``03`` app, ``name``}, ``registerTime``
``yyyy-MM-dd HH:mm:ss``, ``deadline`` ``yyyy-MM-dd``, ``handleDept`` {``code``, ``name``} or
``null`` before dispatch, ``replyContent``, ``superviseCount``, ``satisfaction`` {``code``,
``name``} or ``null``, ``caseNo`` (penalty case the report became, or ``null``).

Feedback receiver (the hub's ``http-webhook`` sink delivers handling feedback here)::

    POST /api/tickets/{ticketNo}/feedback          body: any JSON object
    X-Hub-Timestamp: <unix s>   X-Hub-Signature: sha256=<hex>   X-Hub-Delivery-Id: <id>

signed per :mod:`connectors.sinks.signing` (HMAC-SHA256 with ``feedback_secret`` over
``f"{timestamp}.{body}"``, timestamp within 300 s).  Answers ``200 {"status": "accepted"}``,
``200 {"status": "duplicate"}`` for a delivery id already received (stored once), ``401`` bad
or stale signature, ``400`` no delivery id or not a JSON object, ``404`` unknown ticket.  No
API key: the signature is the authentication.  ``GET /api/tickets/{ticketNo}/feedback``
(``X-Api-Key``) lists what was received; :attr:`ComplaintSimulator.feedback` holds it too.
``POST /api/feedback`` is the same receiver for senders with one fixed URL (the hub's
``http-webhook`` sink): the ticket is ``value.ticket_id`` of the sink's body (a standard record
keyed by ticket), else the body's ``ticket_id``, ``ticketNo`` or ``key``.

Ledger: one entry per ticket version when it becomes visible; ``position`` = its 1-based
sequence number on the platform.  Defects: see :mod:`ops.simulators.tickets`.
"""

from __future__ import annotations

import bisect
import json
import time
from datetime import datetime, timedelta

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from connectors.sinks.signing import DELIVERY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from ops.simulators.base import CST, cli, fmt, now_cst
from ops.simulators.cases import SimEvent
from ops.simulators.lifecycle import GeneratedHttpSimulator
from ops.simulators.tickets import STAGE_NAMES, TicketGenerator

DT, D = "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"
MAX_WINDOW = timedelta(days=31)


def _coded(code, name) -> dict | None:
    return None if code is None else {"code": code, "name": name}


def _parse_time(value: str, name: str) -> datetime:
    if "T" in value and " " in value:  # an unencoded "+08:00" arrives as " 08:00"
        value = value.replace(" ", "+", 1)
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(400, f"{name} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=CST)


class ComplaintSimulator(GeneratedHttpSimulator):
    system = "complaints"
    department_code = "330000ZFB"

    def __init__(self, *args, api_key: str = "12345-sim-key",
                 feedback_secret: str = "12345-feedback-secret", **kw):
        self.api_key, self.feedback_secret = api_key, feedback_secret
        self.stamps: list[int] = []  # syncTime of each row, epoch ms, strictly increasing
        self.tickets: set[str] = set()
        self.feedback: dict[str, dict] = {}  # delivery id -> {"ticket", "delivery_id", "body", "received_at"}
        self.feedback_duplicates = 0
        super().__init__(*args, **kw)

    def make_generator(self, seed, bad_ratio, duplicate_ratio, out_of_order_ratio, **kw) -> TicketGenerator:
        return TicketGenerator(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, **kw)

    def render(self, ev: SimEvent, sync: datetime | None = None) -> dict:
        f = ev.fields
        return {
            "ticketNo": f["ticket_no"], "version": ev.version,
            "syncTime": sync.isoformat(timespec="milliseconds") if sync else None,
            "stage": ev.stage.upper(), "stageName": STAGE_NAMES[ev.stage],
            "stageTime": fmt(f["stage_time"], DT),
            "appealKind": "1" if f["kind"] == "complaint" else "2", "appealKindName": f["kind_name"],
            "category": {"code": f["category_code"], "name": f["category_name"]},
            "title": f["title"], "content": f["text"], "anonymous": f["anonymous"],
            "complainant": {"name": f["complainant_name"], "mobile": f["complainant_phone"],
                            "idCardNo": f["complainant_id"], "address": f["complainant_address"]},
            "target": {"name": f["target_name"], "creditCode": f["target_uscc"], "address": f["target_address"]},
            "areaCode": f["region_code"],
            "channel": {"code": f["channel_code"], "name": f["channel_name"]},
            "registerTime": fmt(f["received_time"], DT), "deadline": fmt(f["due_date"], D),
            "handleDept": _coded(f["handling_dept_code"], f["handling_dept_name"]),
            "replyContent": f["reply_text"], "superviseCount": f["supervise_count"],
            "satisfaction": _coded(f["evaluation_code"], f["evaluation_name"]), "caseNo": f["case_no"],
        }

    def publish(self, events: list[SimEvent]) -> None:
        for ev in events:
            now = int(time.time() * 1000)
            ms = max(now, self.stamps[-1] + 1) if self.stamps else now
            sync = datetime.fromtimestamp(ms / 1000, CST)
            self.rows.append(self.render(ev, sync))
            self.stamps.append(ms)
            self.tickets.add(ev.source_key)
            self.ledger.record(ev, position=str(len(self.rows)))

    def feedback_for(self, ticket_no: str) -> list[dict]:
        with self.lock:
            return [fb for fb in self.feedback.values() if fb["ticket"] == ticket_no]

    def _receive(self, ticket_no: str | None, body: bytes, h) -> dict | JSONResponse:
        """Verify, dedupe and store one feedback delivery (see the module docstring)."""
        if not verify(self.feedback_secret, h.get(TIMESTAMP_HEADER), body, h.get(SIGNATURE_HEADER)):
            return JSONResponse({"status": "rejected", "detail": "bad or stale signature"}, status_code=401)
        delivery = h.get(DELIVERY_ID_HEADER)
        if not delivery:
            return JSONResponse({"status": "rejected", "detail": f"{DELIVERY_ID_HEADER} missing"}, status_code=400)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            return JSONResponse({"status": "rejected", "detail": "body is not a JSON object"}, status_code=400)
        if ticket_no is None:
            value = doc.get("value") if isinstance(doc.get("value"), dict) else {}
            ticket_no = value.get("ticket_id") or doc.get("ticket_id") or doc.get("ticketNo") or doc.get("key")
        with self.lock:
            if ticket_no not in self.tickets:
                return JSONResponse({"status": "rejected", "detail": "unknown ticket"}, status_code=404)
            if delivery in self.feedback:
                self.feedback_duplicates += 1
                return {"status": "duplicate", "delivery_id": delivery}
            self.feedback[delivery] = {"ticket": ticket_no, "delivery_id": delivery, "body": doc,
                                       "received_at": now_cst().isoformat(timespec="seconds")}
        return {"status": "accepted", "delivery_id": delivery}

    def _auth(self, key: str | None) -> None:
        if key != self.api_key:
            raise HTTPException(401, "invalid api key")

    def build_app(self) -> FastAPI:
        app = FastAPI(title="12345政务服务便民热线工单接口 (simulated)")

        @app.get("/api/tickets")
        def tickets(start: str, end: str, page: int | None = Query(None, ge=1),
                    page_size: int = Query(100, ge=1, le=1000), x_api_key: str | None = Header(None)):
            self._auth(x_api_key)
            t0, t1 = _parse_time(start, "start"), _parse_time(end, "end")
            if t1 <= t0:
                raise HTTPException(400, "end must be after start")
            if t1 - t0 > MAX_WINDOW:
                raise HTTPException(400, "window longer than 31 days")
            lo_ms, hi_ms = int(t0.timestamp() * 1000), int(t1.timestamp() * 1000)
            with self.lock:
                lo, hi = bisect.bisect_left(self.stamps, lo_ms), bisect.bisect_left(self.stamps, hi_ms)
                window = self.rows[lo:hi]
            total = len(window)
            if page is None:
                items, pages, size = window, 1 if total else 0, None
            else:
                items, size = window[(page - 1) * page_size: page * page_size], page_size
                pages = -(-total // page_size)
            return {"code": 0, "message": "ok", "start": t0.isoformat(), "end": t1.isoformat(),
                    "total": total, "page": page, "page_size": size, "pages": pages, "tickets": items}

        @app.post("/api/tickets/{ticket_no}/feedback")
        async def feedback(ticket_no: str, request: Request):
            return self._receive(ticket_no, await request.body(), request.headers)

        @app.post("/api/feedback")
        async def feedback_collection(request: Request):
            return self._receive(None, await request.body(), request.headers)

        @app.get("/api/tickets/{ticket_no}/feedback")
        def list_feedback(ticket_no: str, x_api_key: str | None = Header(None)):
            self._auth(x_api_key)
            return {"ticket": ticket_no, "feedback": self.feedback_for(ticket_no)}

        @app.get("/health")
        def health():
            return {"status": "ok", "records": len(self.rows), "feedback": len(self.feedback)}

        return app


def main(argv=None) -> None:
    def extra(p):
        p.add_argument("--api-key", default="12345-sim-key")
        p.add_argument("--feedback-secret", default="12345-feedback-secret")
        p.add_argument("--usccs", default=None, help="file with target USCCs to reuse, one a line")

    def build(a):
        usccs = None
        if a.usccs:
            with open(a.usccs, encoding="utf-8") as fh:
                usccs = [line.strip() for line in fh if line.strip()]
        return ComplaintSimulator(a.seed, a.count, bad_ratio=a.bad_ratio, ledger_path=a.ledger, port=a.port,
                                  api_key=a.api_key, feedback_secret=a.feedback_secret, usccs=usccs)

    cli(build, "Simulated 12345 complaint/report platform (HTTP JSON, time windows, API key, "
               "signed feedback receiver)", extra=extra, argv=argv)


if __name__ == "__main__":
    main()
