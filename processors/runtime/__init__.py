"""The processor runtime: what every registry builder and tracker in ``processors/`` shares.

- :mod:`.contract` — :class:`InRecord`, :class:`Context`, the :class:`Processor` protocol.
- :mod:`.models` — the processed-record table and the transactional outbox.
- :mod:`.apply` — :class:`BatchApplier`: dedupe, apply, record ids, one transaction per batch.
- :mod:`.outbox` — standard-Avro encoding of outputs and :class:`OutboxRelay` to Kafka.
- :mod:`.clock` — the injectable clock.
- :mod:`.metrics` — Prometheus metrics of the processors.

The faust wiring lives in :mod:`processors.app`; nothing here imports faust, so the
logic is testable with a database alone.
"""
