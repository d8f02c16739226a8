"""``http-push``: records an existing system POSTs to the hub, read back from the durable inbox.

The system sends signed JSON to ``POST /connect/push/{connector}``
(:mod:`connectors.declarative.push_api`); the endpoint stores each record in
``connector_push_inbox`` before answering 202. This task polls that table for its connector
in ``seq`` order. **Offset** (partition ``inbox``): the ``seq`` of the record, as a decimal
string; resuming reads ``seq > offset``, so nothing is skipped or re-read.
"""

from __future__ import annotations

import json

from pydantic import Field, SecretStr

from connectors.declarative import inbox
from connectors.declarative.common import DeclarativeSource, identity, parts
from connectors.runtime.contract import RawRecord, SourceTask
from connectors.runtime.plugin import Plugin, PluginContext, SourceParts
from hub_api.db import make_engine

PARTITION = "inbox"


class HttpPushConfig(DeclarativeSource):
    """Config of the ``http-push`` plugin."""

    hmac_secret: SecretStr = Field(min_length=16, description="Shared HMAC-SHA256 secret the system signs with "
                                                               "(secret; never returned).")


class HttpPushTask(SourceTask):
    """Reads ``connector``'s rows of the inbox in ``seq`` order (engine opened in ``open``)."""

    def __init__(self, config: HttpPushConfig, connector: str, database_url: str):
        self.config, self.connector, self.database_url = config, connector, database_url
        self.engine = None
        self.after = 0

    def open(self, offsets: dict[str, str]) -> None:
        self.engine = make_engine(self.database_url)
        inbox.ensure_schema(self.engine)
        self.after = int(offsets.get(PARTITION, "0"))

    def poll(self, max_records: int) -> list[RawRecord]:
        assert self.engine is not None, "poll before open"
        out = []
        for seq, payload in inbox.read_after(self.engine, self.connector, self.after, max_records):
            try:
                doc = json.loads(payload)
            except ValueError:
                doc = None  # the runner's decode stage rejects it with reason json
            key, version = identity(self.config, doc, payload, f"{PARTITION}@{seq}")
            out.append(RawRecord(PARTITION, str(seq), key, version, payload, encoding="utf-8"))
            self.after = seq
        return out

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None


def build(config: HttpPushConfig, ctx: PluginContext) -> SourceParts:
    """The inbox task and mapper of one ``http-push`` connector (inbox in the hub database)."""
    return parts(HttpPushTask(config, ctx.connector, ctx.settings.database_url), config)


PLUGIN = Plugin(
    name="http-push", kind="source", config_model=HttpPushConfig, build=build,
    description="Receive HMAC-signed JSON pushed to POST /connect/push/{connector} (durable inbox), map it "
                "declaratively onto a standard topic.")
