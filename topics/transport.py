"""The producer transport: one small interface for everything that writes to Kafka.

Every implementation produces with ``acks=all`` and idempotence on, and reports
each record's outcome through an ``on_delivery`` callback carrying a
:class:`Delivery`. Two implementations, chosen by ``HUB_PRODUCER_TRANSPORT``:

* ``kafka-python`` (default): pure Python; callbacks run on the producer's I/O thread.
* ``confluent``: librdkafka, roughly ten times faster for bulk loads; callbacks run on
  the thread that calls :meth:`Producer.send` or :meth:`Producer.flush` (they poll).

Callers must not block inside a callback.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ops.settings import HubSettings

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Delivery:
    """Outcome of one produce: the position on success, or the error."""

    topic: str
    partition: int | None
    offset: int | None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


DeliveryCallback = Callable[[Delivery], None]


class Producer(abc.ABC):
    """Asynchronous, idempotent producer. ``send`` queues; ``flush`` waits for every outcome."""

    @abc.abstractmethod
    def send(self, topic: str, value: bytes | None, key: bytes | None = None,
             headers: Headers | None = None, on_delivery: DeliveryCallback | None = None,
             partition: int | None = None) -> None:
        """Queue one record. Raises only for local errors (closed producer, oversize record)."""

    @abc.abstractmethod
    def flush(self, timeout: float | None = None) -> int:
        """Block until every queued record has a delivery outcome; returns how many are still pending."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release the connection."""

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class KafkaPythonProducer(Producer):
    """kafka-python ``KafkaProducer`` with acks=all and idempotence."""

    def __init__(self, settings: HubSettings, **overrides):
        from kafka import KafkaProducer

        config = {
            **settings.kafka_client_config(),
            "client_id": f"{settings.kafka_client_id}-producer",
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "batch_size": 256 * 1024,
            "max_in_flight_requests_per_connection": 5,
            **overrides,
        }
        self._producer = KafkaProducer(**config)

    def send(self, topic, value, key=None, headers=None, on_delivery=None, partition=None):
        future = self._producer.send(topic, value=value, key=key, headers=list(headers or []),
                                     partition=partition)
        if on_delivery is not None:
            future.add_callback(
                lambda md: on_delivery(Delivery(md.topic, md.partition, md.offset))
            )
            future.add_errback(lambda exc: on_delivery(Delivery(topic, partition, None, exc)))

    def flush(self, timeout=None):
        self._producer.flush(timeout=timeout)
        return 0

    def close(self):
        self._producer.close()


class ConfluentProducer(Producer):
    """confluent-kafka (librdkafka) ``Producer`` with acks=all and idempotence."""

    _POLL_EVERY = 1000

    def __init__(self, settings: HubSettings, **overrides):
        try:
            import confluent_kafka
        except ImportError as exc:  # pragma: no cover - optional dependency
            raise RuntimeError(
                "HUB_PRODUCER_TRANSPORT=confluent needs confluent-kafka: pip install 'supervision-hub[confluent]'"
            ) from exc
        self._errors = confluent_kafka.KafkaError
        config = {
            "bootstrap.servers": settings.kafka_bootstrap,
            "security.protocol": settings.kafka_security_protocol,
            "client.id": f"{settings.kafka_client_id}-producer",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            **overrides,
        }
        if settings.kafka_sasl_mechanism:
            config.update({
                "sasl.mechanism": settings.kafka_sasl_mechanism,
                "sasl.username": settings.kafka_sasl_username,
                "sasl.password": settings.kafka_sasl_password.get_secret_value()
                if settings.kafka_sasl_password else None,
            })
        self._producer = confluent_kafka.Producer(config)
        self._sent = 0
        self._closed = False
        self._wrappers: dict[DeliveryCallback, Callable] = {}

    def _wrap(self, on_delivery: DeliveryCallback) -> Callable:
        # One librdkafka callback per distinct hub callback, not one closure per record:
        # callers pass the same callback for a whole batch, and this is the hot path.
        wrapper = self._wrappers.get(on_delivery)
        if wrapper is None:
            def wrapper(err, msg, _cb=on_delivery):
                if err is not None:
                    _cb(Delivery(msg.topic(), msg.partition(), None, RuntimeError(str(err))))
                else:
                    _cb(Delivery(msg.topic(), msg.partition(), msg.offset()))
            if len(self._wrappers) > 1024:
                self._wrappers.clear()
            self._wrappers[on_delivery] = wrapper
        return wrapper

    def send(self, topic, value, key=None, headers=None, on_delivery=None, partition=None):
        kwargs = {}
        if on_delivery is not None:
            kwargs["on_delivery"] = self._wrap(on_delivery)
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        produce = self._producer.produce
        while True:
            try:
                produce(topic, value, key, **kwargs)
                break
            except BufferError:
                # Local queue full: serve delivery reports to make room, then retry.
                self._producer.poll(0.05)
        self._sent += 1
        if self._sent % self._POLL_EVERY == 0:
            self._producer.poll(0)

    def flush(self, timeout=None):
        return self._producer.flush(-1 if timeout is None else timeout)

    def close(self):
        if self._closed:
            return
        self.flush()
        # Releases librdkafka's threads and connections now rather than whenever the object is
        # collected (older confluent-kafka versions have no close() and only release them then).
        close = getattr(self._producer, "close", None)
        if close is not None:
            close()
        self._closed = True


TRANSPORTS: dict[str, type[Producer]] = {
    "kafka-python": KafkaPythonProducer,
    "confluent": ConfluentProducer,
}


def make_producer(settings: HubSettings, transport: str | None = None, **overrides) -> Producer:
    """The configured producer; ``transport`` overrides ``settings.producer_transport``."""
    name = transport or settings.producer_transport
    try:
        cls = TRANSPORTS[name]
    except KeyError:
        raise ValueError(f"unknown producer transport {name!r}; valid: {', '.join(TRANSPORTS)}") from None
    if not settings.kafka_bootstrap:
        raise ValueError("no Kafka bootstrap configured: set HUB_KAFKA_BOOTSTRAP or start `hub broker`")
    return cls(settings, **overrides)
