"""``kafka-json``: JSON messages on an existing system's own Kafka topic(s), on its own cluster.

**Why this adapter imports a Kafka client.** The contract (:mod:`connectors.runtime.contract`)
and STYLE say adapters never import a Kafka client; that rule is about *producing*: the runner
alone produces standard records and dead letters and owns the checkpoints. A source whose
system IS a Kafka topic (system 10, comprehensive administrative enforcement, on a second
broker) has to *consume* that topic, so this task uses kafka-python's ``KafkaConsumer`` --
read-only, against the external cluster named in its config, never the hub's broker. It
still commits nothing anywhere: no consumer group, ``enable_auto_commit=False``.

**Reading.** Group-free: :meth:`KafkaJsonTask.open` assigns every partition of the configured
topics and seeks each to the offset the runner hands back (``start`` -- ``earliest`` or
``latest`` -- for partitions without one, and when a stored offset is out of range).
Partitions added to a topic later are picked up every ``refresh_seconds``. :meth:`poll` is
bounded by ``poll_timeout_ms`` and ``max_records``.

**Offsets.** Partition ``"<topic>:<partition>"``, offset = the *next* offset to read (the
Kafka convention), as a decimal string; resuming seeks there, so nothing is skipped or re-read.

**Security.** ``security`` says how to reach a cluster that requires TLS and/or SASL
(:class:`KafkaSecurity`: ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL`` with ``PLAIN`` or
``SCRAM-SHA-256/512``; the CA to trust given as PEM text, kept in an ``SSLContext``, never
written to disk). The password is a secret: masked in every API response, never logged.

**Records.** The payload is the message's original value bytes, declared in ``encoding``, so a
value that is not valid in it (GB18030 under a UTF-8 header) is dead-lettered by the runner
with reason ``encoding`` and its own bytes. Key and version come from the ``key`` / ``version``
paths of the JSON value (read leniently, only to name the record); when the value cannot be
read at all, the key is the message key and the version is unknown (empty).
"""

from __future__ import annotations

import json
import ssl
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.declarative.common import DeclarativeSource, SourceConfigError, identity, parts
from connectors.runtime.contract import RawRecord, SourceTask
from connectors.runtime.plugin import Plugin, PluginContext, SourceParts


class KafkaSecurity(BaseModel):
    """How to reach the department's cluster: plaintext (the default), TLS, SASL, or SASL over TLS."""

    model_config = ConfigDict(extra="forbid")
    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol of the cluster's listener.")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism (SASL_PLAINTEXT / SASL_SSL only).")
    username: str | None = Field(None, description="SASL user name (SASL_PLAINTEXT / SASL_SSL only).")
    password: SecretStr | None = Field(None, description="SASL password (secret; never returned).")
    ca_pem: str | None = Field(None, description="PEM text of the CA certificate(s) to trust for the cluster "
                                                 "(SSL / SASL_SSL); default: the system's trust store.")
    check_hostname: bool = Field(True, description="Check that the broker's certificate names the host connected "
                                                   "to (SSL / SASL_SSL). The certificate is always verified.")

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        sasl, tls = self.protocol.startswith("SASL_"), self.protocol.endswith("SSL")
        given = [name for name in ("sasl_mechanism", "username", "password") if getattr(self, name) is not None]
        if sasl and len(given) < 3:
            raise ValueError(f"{self.protocol} needs sasl_mechanism, username and password")
        if not sasl and given:
            raise ValueError(f"{', '.join(given)} only apply to SASL_PLAINTEXT and SASL_SSL, not {self.protocol}")
        if not tls and self.ca_pem is not None:
            raise ValueError(f"ca_pem only applies to SSL and SASL_SSL, not {self.protocol}")
        if self.ca_pem is not None:
            self.ssl_context()  # a PEM that does not load fails here, with the config, not at the first poll
        return self

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context trusting ``ca_pem`` (or the system's CAs)."""
        try:
            context = ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem else ssl.create_default_context()
        except (ssl.SSLError, ValueError):
            raise ValueError("ca_pem is not PEM text of a CA certificate") from None
        context.check_hostname = self.check_hostname
        return context

    def client_options(self) -> dict[str, Any]:
        """kafka-python client options for this security (SCRAM also takes the ``sasl_plain_*`` options)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol.endswith("SSL"):
            options["ssl_context"] = self.ssl_context()
        if self.protocol.startswith("SASL_"):
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password.get_secret_value())  # type: ignore[union-attr]
        return options


class KafkaJsonConfig(DeclarativeSource):
    """Config of the ``kafka-json`` plugin."""

    bootstrap_servers: list[str] = Field(min_length=1, description="host:port of the EXTERNAL cluster's brokers "
                                                                   "(the system's own Kafka, not the hub's).")
    topics: list[str] = Field(min_length=1, description="Topics to read (every partition of each).")
    encoding: str = Field("utf-8", description="Declared encoding of the message values (utf-8, gb18030, ...).")
    start: Literal["earliest", "latest"] = Field(
        "earliest", description="Where to start a partition without a committed offset (or out of range).")
    poll_timeout_ms: int = Field(500, ge=10, le=5000, description="Longest wait of one poll for new messages.")
    refresh_seconds: float = Field(30.0, ge=1, description="How often to look for partitions added to the topics.")
    client_id: str = Field("supervision-hub", description="Client id shown in the external cluster's logs.")
    request_timeout_ms: int = Field(15000, ge=1000, description="Metadata / fetch request timeout.")
    security: KafkaSecurity = Field(default_factory=KafkaSecurity,
                                    description="TLS and/or SASL for the cluster (default: plaintext).")


def partition_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class KafkaJsonTask(SourceTask):
    """Reads the assigned partitions from the committed offsets; see the module docstring."""

    def __init__(self, config: KafkaJsonConfig, clock=time.monotonic):
        self.config, self.clock = config, clock
        self.consumer = None
        self.assigned: set = set()
        self.offsets: dict[str, str] = {}
        self._refreshed = 0.0

    def open(self, offsets: dict[str, str]) -> None:
        from kafka import KafkaConsumer

        self.offsets = dict(offsets)
        self.consumer = KafkaConsumer(
            bootstrap_servers=self.config.bootstrap_servers, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=10, auto_offset_reset=self.config.start, client_id=self.config.client_id,
            request_timeout_ms=self.config.request_timeout_ms, **self.config.security.client_options())
        self.assigned = set()
        self._assign(first=True)

    def _partitions(self) -> set:
        from kafka import TopicPartition

        found = set()
        for topic in self.config.topics:
            ids = self.consumer.partitions_for_topic(topic)  # type: ignore[union-attr]
            if not ids:
                raise SourceConfigError(f"topic {topic!r} does not exist on the source cluster")
            found |= {TopicPartition(topic, p) for p in ids}
        return found

    def _assign(self, first: bool = False) -> None:
        found = self._partitions()
        new = found - self.assigned
        self._refreshed = self.clock()
        if not new:
            return
        self.assigned |= new
        self.consumer.assign(sorted(self.assigned))  # type: ignore[union-attr]
        # Newly assigned partitions: seek to the committed next offset, or to `start`. Partitions
        # seen after the first open are new to the topic, so they start at the beginning.
        fresh = []
        for tp in new:
            stored = self.offsets.get(partition_name(tp.topic, tp.partition))
            if stored is not None:
                self.consumer.seek(tp, int(stored))  # type: ignore[union-attr]
            else:
                fresh.append(tp)
        if fresh:
            if first and self.config.start == "latest":
                self.consumer.seek_to_end(*fresh)  # type: ignore[union-attr]
            else:
                self.consumer.seek_to_beginning(*fresh)  # type: ignore[union-attr]

    def poll(self, max_records: int) -> list[RawRecord]:
        assert self.consumer is not None, "poll before open"
        if self.clock() - self._refreshed >= self.config.refresh_seconds:
            self._assign()
        batches = self.consumer.poll(timeout_ms=self.config.poll_timeout_ms, max_records=max_records)
        out = []
        for tp in sorted(batches):
            for msg in batches[tp]:
                out.append(self._record(msg))
        return out

    def _record(self, msg) -> RawRecord:
        name = partition_name(msg.topic, msg.partition)
        payload = bytes(msg.value or b"")
        next_offset = str(msg.offset + 1)
        self.offsets[name] = next_offset
        try:  # lenient reading, only to name the record; the runner decodes strictly
            doc = json.loads(payload.decode(self.config.encoding, errors="replace"))
        except (ValueError, LookupError):
            doc = None
        if isinstance(doc, dict):
            key, version = identity(self.config, doc, payload, f"{name}@{msg.offset}")
        else:
            key = msg.key.decode("utf-8", errors="replace") if msg.key else f"{name}@{msg.offset}"
            version = ""
        return RawRecord(name, next_offset, key, version, payload, encoding=self.config.encoding,
                         content_type="application/json")

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close(autocommit=False)
            self.consumer = None
        self.assigned = set()


def build(config: KafkaJsonConfig, ctx: PluginContext) -> SourceParts:
    """The consumer task (connects in ``open``) and the declarative mapper of one ``kafka-json`` connector."""
    return parts(KafkaJsonTask(config), config)


PLUGIN = Plugin(
    name="kafka-json", kind="source", config_model=KafkaJsonConfig, build=build,
    description="Read JSON messages from an existing system's own Kafka topic(s) on its own cluster "
                "(group-free, resuming at committed offsets) and map them declaratively onto a standard topic.")
