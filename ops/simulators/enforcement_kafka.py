"""Comprehensive administrative enforcement (综合行政执法) penalty system: its own Kafka topic, JSON values,
on a second embedded broker (system 10 of the ten self-built penalty systems).

:meth:`EnforcementKafkaSimulator.start` starts its own Tansu broker (``ops.broker.EmbeddedBroker``,
on a free port; pass ``bootstrap=`` to use an existing cluster instead), creates ``topic``
(default ``zhzf.case.events``, ``partitions`` 3) and produces the initial events; it returns a
:class:`KafkaEndpoint` (``bootstrap``, ``topic``).  Produced with kafka-python, ``acks=all``,
one request in flight per connection (order per partition kept on retries).

Message: **key** = the case number (UTF-8), so every version of a case lands on one partition
in order; **headers** ``content-type: application/json; charset=utf-8`` and ``msg-id``;
**value** = UTF-8 JSON::

    {"msgId": "zhzf-00000017", "msgType": "CASE_PHASE", "data": {...}}

``data`` fields (the system's own camelCase): ``caseNo`` (source key), ``rev`` (version),
``action`` ``NEW``/``UPD``/``DEL``, ``phase`` (Chinese stage name, ``cases.STAGE_NAMES``),
``phaseTime`` ``yyyy年MM月dd日 HH:mm``, ``caseTitle``, ``clueSource`` {``code``, ``name``},
``party`` {``type`` 单位/个人, ``name``, ``certType`` 统一社会信用代码/居民身份证, ``certNo``,
``legalRep``, ``address``}, ``divisionCode`` region, ``matterCode`` catalog code, ``implCode``,
``handleOrg`` {``name``, ``creditCode``}, ``lawOfficers`` [{``name``, ``badgeNo``}], ``checkNo``,
``illegalFacts``, ``legalBasis``, ``procedure`` 一般程序/简易程序, dates ``yyyy年MM月dd日``:
``filingDate``, ``noticeDate``, ``decisionDate``, ``closeDate``, ``transferDate``;
``decisionNo``, ``punishment`` {``code``, ``name``, ``amount`` (string, yuan)}, ``result``,
``execution`` {``mode``, ``paidAmount``}, ``reason``, ``docNo``.

Defects: all data defects of :class:`~ops.simulators.cases.CaseGenerator` **and**
``gb18030_in_utf8`` -- a legacy producer writes that message's value in GB18030 while the
header says UTF-8 (expected reason ``encoding``).  Ledger: one entry per message once the
broker acknowledged it; ``position`` = ``"<partition>:<offset>"`` from the delivery metadata.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import NamedTuple

from ops.broker import EmbeddedBroker
from ops.simulators.base import Simulator, cli, fmt
from ops.simulators.cases import ALL_DEFECTS, STAGE_NAMES, SimEvent

CN_DATE, CN_TIME = "%Y年%m月%d日", "%Y年%m月%d日 %H:%M"
ACTIONS = {"i": "NEW", "u": "UPD", "d": "DEL"}


class KafkaEndpoint(NamedTuple):
    """Where the system's messages are: bootstrap address and topic."""

    bootstrap: str
    topic: str

    def __str__(self) -> str:
        return f"kafka://{self.bootstrap}/{self.topic}"


class EnforcementKafkaSimulator(Simulator):
    system = "enforcement_kafka"
    department_code = "330000ZHZF"
    agency_kind = "综合行政执法局"
    defects = ALL_DEFECTS

    def __init__(self, *args, topic: str = "zhzf.case.events", partitions: int = 3,
                 bootstrap: str | None = None, broker_port: int | None = None,
                 broker_log: str | Path | None = None, **kw):
        super().__init__(*args, **kw)
        self.topic, self.partitions = topic, partitions
        self.bootstrap = bootstrap
        self.broker: EmbeddedBroker | None = None
        self._broker_port, self._broker_log = broker_port, broker_log
        self.producer = None
        self.produced = 0

    def payload(self, ev: SimEvent) -> dict:
        f = ev.fields
        person = f["party_type"] == "person"
        return {
            "caseNo": f["case_number"], "rev": ev.version, "action": ACTIONS[ev.operation],
            "phase": STAGE_NAMES[ev.stage], "phaseTime": fmt(f["stage_time"], CN_TIME),
            "caseTitle": f["penalty_name"],
            "clueSource": {"code": f["case_source_code"], "name": f["case_source_name"]},
            "party": {"type": "个人" if person else "单位", "name": f["party_name"],
                      "certType": "居民身份证" if person else "统一社会信用代码", "certNo": f["party_id"],
                      "legalRep": f["party_legal_rep"], "address": f["party_address"]},
            "divisionCode": f["region_code"], "matterCode": f["catalog_code"], "implCode": f["implementation_code"],
            "handleOrg": {"name": f["agency_name"], "creditCode": f["agency_uscc"]},
            "lawOfficers": [{"name": f[f"officer{i}_name"], "badgeNo": f[f"officer{i}_cert"]} for i in (1, 2)],
            "checkNo": f["inspection_number"], "illegalFacts": f["facts"], "legalBasis": f["legal_basis"],
            "procedure": "简易程序" if f["procedure"] == "simple" else "一般程序",
            "filingDate": fmt(f["filing_date"], CN_DATE), "noticeDate": fmt(f["notice_date"], CN_DATE),
            "decisionDate": fmt(f["decision_date"], CN_DATE), "closeDate": fmt(f["closing_date"], CN_DATE),
            "transferDate": fmt(f["referral_date"], CN_DATE), "decisionNo": f["decision_number"],
            "punishment": {"code": f["penalty_kind_code"], "name": f["penalty_kind_name"],
                           "amount": f["fine_amount"]},
            "result": f["penalty_result"],
            "execution": {"mode": f["execution_mode"], "paidAmount": f["fine_paid"]},
            "reason": f["stage_reason"], "docNo": f["stage_document_number"],
        }

    def message(self, ev: SimEvent, n: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) of the ``n``-th message."""
        msg_id = f"zhzf-{n:08d}"
        text = json.dumps({"msgId": msg_id, "msgType": "CASE_PHASE", "data": self.payload(ev)}, ensure_ascii=False)
        value = text.encode("gb18030" if ev.defect == "gb18030_in_utf8" else "utf-8")
        return (ev.source_key.encode("utf-8"), value,
                [("content-type", b"application/json; charset=utf-8"), ("msg-id", msg_id.encode())])

    def publish(self, events: list[SimEvent]) -> None:
        if self.producer is None:
            raise RuntimeError("start() the simulator before emitting: it produces to Kafka")
        futures = []
        for ev in events:
            self.produced += 1
            key, value, headers = self.message(ev, self.produced)
            futures.append(self.producer.send(self.topic, key=key, value=value, headers=headers))
        self.producer.flush()
        for ev, fut in zip(events, futures, strict=True):
            md = fut.get(timeout=30)
            self.ledger.record(ev, position=f"{md.partition}:{md.offset}")

    def start(self) -> KafkaEndpoint:
        """Start the broker (unless ``bootstrap`` was given), create the topic, produce ``count`` events."""
        from kafka import KafkaProducer
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        if self.bootstrap is None:
            log = Path(self._broker_log) if self._broker_log else Path(tempfile.mkdtemp(prefix="zhzf-broker-")) / "tansu.log"
            self.broker = EmbeddedBroker(port=self._broker_port, log_path=log)
            self.bootstrap = self.broker.start()
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000)
        try:
            admin.create_topics([NewTopic(self.topic, self.partitions, 1)])
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()
        self.producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5, retries=5,
                                      max_in_flight_requests_per_connection=1)
        self.emit(self.initial_count)
        return KafkaEndpoint(self.bootstrap, self.topic)

    def stop(self) -> None:
        if self.producer is not None:
            self.producer.close(timeout=10)
            self.producer = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        super().stop()


def main(argv=None) -> None:
    def extra(p):
        p.add_argument("--topic", default="zhzf.case.events")
        p.add_argument("--partitions", type=int, default=3)
        p.add_argument("--bootstrap", default=None, help="use this Kafka instead of starting a second broker")

    cli(lambda a: EnforcementKafkaSimulator(a.seed, a.count, bad_ratio=a.bad_ratio, ledger_path=a.ledger,
                                            topic=a.topic, partitions=a.partitions, bootstrap=a.bootstrap,
                                            broker_port=a.port),
        "Simulated comprehensive-enforcement penalty system (JSON on its own Kafka topic, second broker)",
        extra=extra, argv=argv)


if __name__ == "__main__":
    main()
