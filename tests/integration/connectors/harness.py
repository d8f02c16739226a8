"""Run one connector plugin against a simulator, the real broker and the live registry; collect results."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient

from connectors.runtime.dlq import parse_dead_letter
from connectors.runtime.offsets import OffsetStore
from connectors.runtime.plugin import PluginContext
from connectors.runtime.runner import SourceRunner
from hub_api.registry.client import RegistryClient
from tests.integration.connectors.test_runner_broker import consume
from topics.provision import ensure_topic
from topics.serde import AvroDeserializer
from topics.transport import make_producer


class ConnectorRun:
    """A plugin built from ``config`` and run by a SourceRunner into private topics."""

    def __init__(self, live_hub, writer_client, bootstrap: str, plugin, config, *, source_system: str,
                 catalog_topic: str = "penalty.case.events", encoding: str = "utf-8", state_dir: Path | None = None,
                 topic: str | None = None):
        """``topic``: where the records go (default: a private ``it.<catalog topic>.<suffix>``);
        end-to-end tests pass the catalog topic itself so that processors consume it."""
        suffix = uuid.uuid4().hex[:8]
        self.connector, self.topic = f"it-{source_system}-{suffix}", topic or f"it.{catalog_topic}.{suffix}"
        self.dlq = f"dlq.{self.connector}"
        self.bootstrap, self.source_system = bootstrap, source_system
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            ensure_topic(admin, self.topic, partitions=3)
            ensure_topic(admin, self.dlq, partitions=1)
        finally:
            admin.close()
        live_hub.db.create_schema()
        self.registry = RegistryClient(f"{live_hub.url}/registry", auth=writer_client)
        self.producer = make_producer(live_hub.settings)
        self.offsets = OffsetStore(live_hub.db)
        ctx = PluginContext(self.connector, live_hub.settings, state_dir or Path("/tmp") / self.connector, time.time)
        self.parts = plugin.build(config, ctx)
        self.runner = SourceRunner(
            self.connector, self.parts.task, self.parts.mapper, source_system=source_system,
            settings=live_hub.settings, producer=self.producer, registry=self.registry, offsets=self.offsets,
            identifier_fields=self.parts.identifier_fields, encoding=encoding,
            topic_names={catalog_topic: self.topic}, batch_size=200)

    def drain(self, idle_polls: int = 2, timeout: float = 60.0) -> int:
        """``run_once`` until ``idle_polls`` consecutive empty polls; returns records polled."""
        polled, idle, deadline = 0, 0, time.monotonic() + timeout
        while idle < idle_polls and time.monotonic() < deadline:
            n = self.runner.run_once().polled
            polled += n
            idle = idle + 1 if n == 0 else 0
        return polled

    def collect(self, expected: int) -> tuple[list[dict], list[dict]]:
        """Decoded standard records and parsed dead letters (consumed from the beginning)."""
        decode = AvroDeserializer(self.registry)
        messages = consume(self.bootstrap, [self.topic, self.dlq], expected=expected)
        standard = [decode(m.value()) for m in messages if m.topic() == self.topic]
        dead = [parse_dead_letter(m.headers(), m.value()) for m in messages if m.topic() == self.dlq]
        return standard, dead

    def close(self) -> None:
        self.runner.close()
        self.producer.close()
        self.registry.close()
