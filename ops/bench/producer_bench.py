"""Producer transport benchmark: a realistic standard record through the hub's serializer.

From one run on one broker it prints records/s for:

* ``hub/<transport>``  — hub ``AvroSerializer`` (Confluent framing, fastavro) + hub transport;
* ``user/confluent``  — what a user would write instead: confluent-kafka's ``AvroSerializer``
  against the hub's registry + a confluent ``Producer``;
* ``raw/<transport>``  — the same transport sending the same already-encoded bytes (the ceiling);

and the ratios hub/user and hub/raw. Every path waits for every acknowledgement (acks=all,
idempotent) and checks that none failed. Run: ``python -m ops.bench.producer_bench [--records N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid


def run(records: int, transports: list[str], rounds: int = 3) -> dict:
    """records/s per path: the median of ``rounds`` interleaved rounds (the machine is shared)."""
    import statistics

    from confluent_kafka import Producer as ConfluentProducer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer as ConfluentAvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from hub_api.registry.client import RegistryClient
    from ops.bench.common import DeliveryCounter, bench_env, progress, timed
    from ops.settings import HubSettings
    from ops.simulators.records import RecordFactory
    from schemas import loader
    from topics.serde import AvroSerializer, subject_for
    from topics.transport import make_producer

    schema = "gov.zj.supervision.penalty.PenaltyCaseEvent"
    progress(f"generating {records:,} penalty decision records (Faker zh_CN)")
    factory = RecordFactory(seed=1)
    data = [factory.penalty_decision(i) for i in range(records)]
    keys = [r["case_id"].encode() for r in data]
    samples: dict[str, list[float]] = {}

    with bench_env() as env:
        settings = HubSettings(kafka_bootstrap=env.bootstrap, environment="test")
        registry = RegistryClient(env.registry_url, auth=env.writer)
        topic = f"bench.penalty.{uuid.uuid4().hex[:6]}"
        serialize = AvroSerializer(registry, subject_for(topic), loader.schema_json(schema))
        encoded = [serialize(r) for r in data]  # warms the schema-id cache too
        client = SchemaRegistryClient({"url": env.registry_url,
                                       "basic.auth.user.info": f"{env.writer[0]}:{env.writer[1]}"})
        user_serialize = ConfluentAvroSerializer(client, loader.schema_json(schema))
        ctx = SerializationContext(topic, MessageField.VALUE)
        user_serialize(data[0], ctx)  # the same warm-up as the hub path

        def hub_path(transport, values):
            counter = DeliveryCounter()
            producer = make_producer(settings, transport=transport)

            def send():
                for i, record in enumerate(data):
                    value = serialize(record) if values is None else values[i]
                    producer.send(topic, value, key=keys[i], on_delivery=counter)
                producer.flush()

            elapsed = timed(send)
            producer.close()
            return elapsed, counter

        def user_path():
            counter = DeliveryCounter()
            producer = ConfluentProducer({"bootstrap.servers": env.bootstrap, "enable.idempotence": True,
                                          "acks": "all", "linger.ms": 5})

            def send():
                for i, record in enumerate(data):
                    while True:
                        try:
                            producer.produce(topic, user_serialize(record, ctx), key=keys[i],
                                             on_delivery=counter.confluent)
                            break
                        except BufferError:
                            producer.poll(0.05)
                    if i % 1000 == 0:
                        producer.poll(0)
                producer.flush()

            return timed(send), counter

        paths = {"user/confluent": user_path}
        for t in transports:
            paths[f"hub/{t}"] = lambda t=t: hub_path(t, None)
            paths[f"raw/{t}"] = lambda t=t: hub_path(t, encoded)
        for round_no in range(1, rounds + 1):
            for label, path in paths.items():
                progress(f"round {round_no}/{rounds}: {label}")
                elapsed, counter = path()
                _check(label, counter, records)
                samples.setdefault(label, []).append(records / elapsed)
    return {label: statistics.median(values) for label, values in samples.items()}


def _check(label: str, counter, expected: int) -> None:
    if counter.failed or counter.ok != expected:
        raise SystemExit(f"{label}: {counter.ok} acknowledged, {counter.failed} failed of {expected}")


def report(results: dict, transports: list[str], records: int) -> dict:
    user = results["user/confluent"]
    print(f"\nProducer benchmark: {records:,} PenaltyCaseEvent records (~30 fields, Chinese text), acks=all, "
          "idempotent; median of interleaved rounds")
    print(f"{'path':<22}{'records/s':>12}")
    for label, rate in results.items():
        print(f"{label:<22}{rate:>12,.0f}")
    ratios = {}
    print(f"\n{'transport':<16}{'hub / user':>12}{'hub / raw':>12}")
    for t in transports:
        hub = results[f"hub/{t}"]
        ratios[t] = {"hub_over_user": hub / user, "hub_over_raw": hub / results[f"raw/{t}"]}
        print(f"{t:<16}{ratios[t]['hub_over_user']:>12.2f}{ratios[t]['hub_over_raw']:>12.2f}")
    print("\nhub / user > 1: the hub path is faster than confluent's AvroSerializer + Producer.")
    print("hub / raw: share of the transport's ceiling kept after Avro encoding.")
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--transports", nargs="*", default=["kafka-python", "confluent"])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    results = run(args.records, args.transports, args.rounds)
    ratios = report(results, args.transports, args.records)
    if args.json:
        print(json.dumps({"records_per_s": results, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
