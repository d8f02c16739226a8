"""``hub process``'s faust host on the real broker: decode, dedupe, dead letters, outbox relay, kill -9."""

from __future__ import annotations

from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from tests.records import envelope, minimal

ALERT = "gov.zj.supervision.risk.RiskAlert"


def alerts(ids):
    return [minimal(ALERT, alert_id=a, envelope=envelope("risk", a, 1)) for a in ids]


def test_host_applies_once_dead_letters_bad_input_and_relays_outputs(database_url, tmp_path):
    with ProcessorHub(database_url, tmp_path, module="tests.integration.processors.echo_main") as hub:
        hub.produce("risk.alerts", alerts([f"A{i}" for i in range(200)] + ["bad"] + [f"E{i}" for i in range(5)]))
        hub.produce("risk.alerts", alerts([f"A{i}" for i in range(50)]))  # duplicates from the source
        hub.produce_raw("risk.alerts", b"not avro at all", key=b"garbage")
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from processed_records") == 206, what="206 ids in the ledger")
        assert hub.scalar("select count(*) from echo") == 205
        assert hub.rows("select outcome, count(*) from processed_records group by outcome order by outcome") == [
            ("applied", 205), ("dead_letter", 1)]

        dead = consume_all(hub.bootstrap, "dlq.processor.echo", expected=2)
        by_key = {m.key(): dict(m.headers()) for m in dead}
        assert by_key[b"bad"][("hub.reason")] == b"processing" and by_key[b"bad"]["hub.stage"] == b"apply"
        assert by_key[b"garbage"]["hub.reason"] == b"framing" and by_key[b"garbage"]["hub.stage"] == b"decode"
        assert {m.value() for m in dead if m.key() == b"garbage"} == {b"not avro at all"}

        outputs = consume_all(hub.bootstrap, "supervision.alerts", expected=5)
        assert sorted(m.key() for m in outputs) == [f"E{i}".encode() for i in range(5)]
        hub.wait_for(lambda: hub.scalar("select count(*) from outbox") == 0, what="outbox drained")

        metrics = hub.metrics()
        assert 'hub_processor_records_total{outcome="applied",processor="echo"} 205.0' in metrics
        assert 'hub_processor_records_total{outcome="duplicate",processor="echo"} 50.0' in metrics
        assert 'hub_processor_records_total{outcome="decode_error",processor="echo"} 1.0' in metrics


def test_kill_9_mid_stream_loses_and_doubles_nothing(database_url, tmp_path):
    ids = [f"A{i}" for i in range(3000)]
    with ProcessorHub(database_url, tmp_path, module="tests.integration.processors.echo_main") as hub:
        hub.produce("risk.alerts", alerts(ids[:1500]))
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from echo") > 0, what="first batch")
        hub.kill_processor()
        hub.produce("risk.alerts", alerts(ids[1500:]))
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from echo") > 1500, what="progress after restart")
        hub.kill_processor()
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from processed_records") == 3000, what="all 3000 ids")
        # echo's primary key would turn a double application into a dead letter: none may exist.
        assert hub.scalar("select count(*) from processed_records where outcome = 'applied'") == 3000
        assert hub.scalar("select count(*) from echo") == 3000
