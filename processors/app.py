"""``hub process``: one faust-streaming app running every processor in :data:`processors.catalog.PROCESSORS`.

Per processor, one agent consumes its standard topics in batches (``stream.take_events``),
decodes them with the schema registry into the standard schema (schema evolution by
reader schema), and hands the batch to a :class:`~processors.runtime.apply.BatchApplier`
on a worker thread (SQLAlchemy is synchronous). A record that cannot be decoded or
applied goes to ``dlq.processor.<name>`` with the dead-letter headers of the connector
runtime and its original bytes. The Kafka offset is committed by faust after the batch
returned, so delivery is at-least-once and the id ledger makes effects exactly-once.

Timers run each processor's scheduled work; the outbox relay produces outputs after
every batch and, in a loop, a second after its last drain (for rows the API writes). The faust web server answers
``/healthz`` and ``/metrics`` on ``HUB_PROCESSOR_PORT``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors.runtime.dlq import dead_letter_headers
from hub_api.db import Database
from hub_api.registry.client import RegistryClient
from ops.logging import quiet_libraries
from ops.metrics import new_registry
from ops.settings import HubSettings
from processors.runtime.apply import BatchApplier, Rejected
from processors.runtime.clock import Clock, SystemClock
from processors.runtime.contract import InRecord, Processor
from processors.runtime.metrics import ProcessorMetrics
from processors.runtime.outbox import OutboxRelay
from processors.runtime.outbox_scan import TopicScanner
from schemas import loader
from topics.catalog import dead_letter_topic
from topics.catalog import get as get_topic
from topics.serde import AvroDeserializer, SerializationError
from topics.transport import Producer, make_producer

log = logging.getLogger("processors")

APP_ID = "supervision-hub-processors"


class ProcessorHost:
    """Everything the agents share: database, registry, producer, metrics, appliers."""

    def __init__(self, settings: HubSettings, db: Database, processors: dict[str, Processor],
                 clock: Clock | None = None, producer: Producer | None = None) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock or SystemClock()
        self.processors = processors
        auth = ((settings.registry_client_id, settings.registry_client_secret.get_secret_value())
                if settings.registry_client_id and settings.registry_client_secret else None)
        self.registry = RegistryClient(settings.effective_registry_url, auth=auth)
        self.producer = producer or make_producer(settings)
        self.metrics = ProcessorMetrics(new_registry())
        self.appliers = {name: BatchApplier(db.engine, p, self.clock) for name, p in processors.items()}
        self.relay = OutboxRelay(db.engine, self.producer, self.registry, scanner=TopicScanner(settings))
        self._decoders = {
            topic: AvroDeserializer(self.registry, loader.schema_json(get_topic(topic).value_schema))
            for p in processors.values() for topic in p.topics
        }
        # SQLite allows one writer: serialise database work; PostgreSQL gets a few threads.
        workers = 1 if db.engine.dialect.name == "sqlite" else 4
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="processor-db")
        self.started = time.time()
        self.last_error: str | None = None
        for p in processors.values():
            collector = getattr(p, "collector", None)
            if collector is not None:
                self.metrics.registry.register(collector(db.engine))

    def decode(self, name: str, events) -> tuple[list[InRecord], list[Rejected]]:
        records, bad = [], []
        for event in events:
            msg = event.message
            raw = msg.value if isinstance(msg.value, bytes | bytearray) else bytes(msg.value or b"")
            key = msg.key.decode("utf-8", "replace") if isinstance(msg.key, bytes | bytearray) else msg.key
            record = InRecord(msg.topic, msg.partition, msg.offset, key, {}, bytes(raw), msg.timestamp and int(msg.timestamp * 1000))
            try:
                value = self._decoders[msg.topic](record.raw)
            except SerializationError as exc:
                bad.append(Rejected(record, type(exc).__name__, exc.reason, str(exc)))
                continue
            records.append(InRecord(record.topic, record.partition, record.offset, key, value, record.raw,
                                    record.timestamp_ms))
        return records, bad

    def process(self, name: str, records: list[InRecord], bad: list[Rejected]) -> None:
        """Apply one batch (thread-pool side): applier, dead letters, metrics, relay."""
        applier = self.appliers[name]
        started = time.perf_counter()
        result = applier.handle(records) if records else None
        rejected = list(bad) + (result.rejected if result else [])
        if rejected:
            self.dead_letter(name, rejected)
            applier.record_dead_letters([r for r in rejected if r.record.value])
        if bad:
            self.metrics.decode_error(name, len(bad))
        if result is not None:
            self.metrics.observe_batch(name, result, time.perf_counter() - started, time.time())
            if result.emitted:
                self.relay_outbox()

    def dead_letter(self, name: str, rejected: list[Rejected]) -> None:
        topic = dead_letter_topic(f"processor.{name}")
        errors: list[Exception] = []
        now_ms = int(time.time() * 1000)
        for r in rejected:
            stage = "decode" if not r.record.value else "apply"
            headers = dead_letter_headers(
                connector=f"processor.{name}", stage=stage, error_class=r.error_class, reason=r.reason,
                message=r.message, partition=f"{r.record.topic}:{r.record.partition}", offset=str(r.record.offset),
                key=r.record.key or "", attempts=1, ts_ms=now_ms,
                version=(r.record.source_version or ""), content_type="avro/confluent",
            )
            self.producer.send(topic, r.record.raw, key=(r.record.key or "").encode("utf-8"), headers=headers,
                               on_delivery=lambda d: errors.append(d.error) if not d.ok else None)
        self.producer.flush(30)
        if errors:
            # Not acknowledged: raise so the batch is not committed and comes back after a restart.
            raise RuntimeError(f"dead letters to {topic} not acknowledged: {type(errors[0]).__name__}")

    def relay_outbox(self) -> None:
        try:
            self.relay.drain()
            self.metrics.outbox_pending.set(self.relay.pending())
        except Exception as exc:  # noqa: BLE001 - rows stay pending; retried by the timer
            self.last_error = f"outbox relay: {type(exc).__name__}: {exc}"
            log.warning("outbox relay failed: %s", self.last_error)

    def run_timer(self, name: str, timer) -> None:
        result = self.appliers[name].run_timer(timer.fn)
        self.metrics.events(name, result.counters)
        if result.emitted:
            self.relay_outbox()

    def health(self) -> tuple[bool, dict]:
        ok = True
        try:
            with self.db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            database = "ok"
        except Exception as exc:  # noqa: BLE001
            ok, database = False, f"error: {type(exc).__name__}"
        return ok, {"status": "ok" if ok else "degraded", "database": database,
                    "processors": sorted(self.processors), "uptime_s": round(time.time() - self.started, 1),
                    "outbox_sent": self.relay.sent, "outbox_recovered": self.relay.recovered,
                    "outbox_resent": self.relay.resent, "relay_lock": self.relay.lock.held, "last_error": self.last_error}

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.relay.close()
        self.producer.close()
        self.registry.close()


def _tune_fetch_wait(wait_ms: int) -> None:
    """Make faust's consumer use ``wait_ms`` as its fetch wait instead of a hard-coded 1,500 ms.

    faust-streaming builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` and no setting to
    change it; on Tansu a waiting fetch is answered only after about half its wait, which would put
    ~750 ms on every quiet-topic hop. aiokafka reads the value when the consumer starts, so setting it
    on the fresh consumer is enough.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    original = getattr(AIOKafkaConsumerThread, "_hub_original_create", None) or AIOKafkaConsumerThread._create_worker_consumer

    def create(self, transport):
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = wait_ms
        return consumer

    AIOKafkaConsumerThread._hub_original_create = original
    AIOKafkaConsumerThread._create_worker_consumer = create


def _credentials(settings: HubSettings):
    """faust broker credentials from the hub's Kafka security settings (None for PLAINTEXT)."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    import ssl

    ssl_context = ssl.create_default_context() if settings.kafka_security_protocol.endswith("SSL") else None
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        return faust.SASLCredentials(username=settings.kafka_sasl_username, password=password,
                                     mechanism=settings.kafka_sasl_mechanism, ssl_context=ssl_context)
    return faust.SSLCredentials(ssl_context)


RELAY_PAUSE_S = 1.0
"""Pause between two drains of the outbox (each drain sends everything pending)."""


def build_app(settings: HubSettings, host: ProcessorHost, *, batch_size: int = 500, batch_window: float = 0.2,
              web_port: int | None = None) -> faust.App:
    """The faust app: one agent per processor, timers, relay, /healthz and /metrics."""
    bootstrap = settings.kafka_bootstrap or "127.0.0.1:9092"
    _tune_fetch_wait(settings.kafka_fetch_max_wait_ms)
    app = faust.App(
        APP_ID,
        broker=[f"kafka://{b.strip()}" for b in bootstrap.split(",")],
        broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
        broker_heartbeat_interval=max(0.5, settings.kafka_session_timeout_ms / 6000),
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        topic_disable_leader=True,
        store="memory://",
        datadir=str((settings.var_dir / "faust").resolve()),
        web_enabled=True,
        web_port=web_port or settings.processor_port,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        producer_acks=-1,
        broker_credentials=_credentials(settings),
    )
    loop_executor = host.pool

    for name, processor in host.processors.items():
        topic = app.topic(*processor.topics, key_type=bytes, value_type=bytes,
                          key_serializer="raw", value_serializer="raw")

        def make_agent(name: str = name):
            async def agent(stream):
                loop = asyncio.get_running_loop()
                async for events in stream.take_events(batch_size, within=batch_window):
                    records, bad = host.decode(name, events)
                    await loop.run_in_executor(loop_executor, host.process, name, records, bad)
            agent.__name__ = f"process_{name.replace('-', '_')}"
            agent.__qualname__ = agent.__name__
            return agent

        app.agent(topic, name=f"hub.processor.{name}")(make_agent())

        for timer in processor.timers:
            def make_timer(name: str = name, timer=timer):
                async def tick():
                    loop = asyncio.get_running_loop()
                    try:
                        await loop.run_in_executor(loop_executor, host.run_timer, name, timer)
                    except Exception as exc:  # noqa: BLE001 - a failing timer must not stop the worker
                        host.last_error = f"timer {name}.{timer.name}: {type(exc).__name__}: {exc}"
                        log.exception("timer %s.%s failed", name, timer.name)
                tick.__name__ = f"timer_{name}_{timer.name}".replace("-", "_")
                return tick

            app.timer(timer.interval_s, name=f"hub.timer.{name}.{timer.name}")(make_timer())

    @app.task
    async def relay() -> None:
        # A loop with a 1 s pause between drains, not a 1 s timer: draining a burst (the first
        # load of a registry) takes longer than a second, which faust reports on every tick of a
        # timer as "overlapping". Cancelled when the app stops.
        loop = asyncio.get_running_loop()
        while True:
            await loop.run_in_executor(loop_executor, host.relay_outbox)
            await asyncio.sleep(RELAY_PAUSE_S)

    @app.page("/healthz")
    async def healthz(self, request):
        ok, body = host.health()
        return self.json(body, status=200 if ok else 503)

    @app.page("/metrics")
    async def metrics(self, request):
        # aiohttp refuses a charset inside content_type; Prometheus accepts the bare exposition type.
        return self.bytes(generate_latest(host.metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0] + "; version=0.0.4")

    return app


class _Worker(faust.Worker):
    """faust's worker, minus a shutdown that waits forever (and the client libraries' chatter).

    On stop, events still in a ``take_events`` buffer were never handed to an agent and are never
    acked, so faust's ``wait_empty`` would wait for them until the supervisor's SIGKILL. Their
    offsets are not committed and processing is idempotent: they are simply read again on the
    next start. Rebalances keep waiting (an agent's batch in flight finishes before its partitions
    move), only the shutdown stops waiting.
    """

    async def on_first_start(self) -> None:
        await super().on_first_start()  # sets up faust's logging
        quiet_libraries()

    async def on_stop(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "reconfiguring late": intended, and read only at stop
            self.app.conf.stream_wait_empty = False
        await super().on_stop()


def run(settings: HubSettings, processors: dict[str, Processor] | None = None, clock: Clock | None = None) -> int:
    """``hub process``: run the faust worker until SIGINT / SIGTERM."""
    from processors.catalog import PROCESSORS, select

    (settings.var_dir / "faust").mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    db.create_schema()
    host = ProcessorHost(settings, db, processors or select(settings.processors) or PROCESSORS, clock=clock)
    app = build_app(settings, host)
    print(json.dumps({"msg": "hub process starting", "processors": sorted(host.processors),
                      "web": f"http://127.0.0.1:{settings.processor_port}"}), flush=True)
    worker = _Worker(app, loglevel=settings.log_level.lower().replace("warning", "warn"), quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        host.close()
        db.dispose()
    return 0
