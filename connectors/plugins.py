"""The table of connector plugins: an explicit dict, no registration by import side effect.

To add a plugin, import its descriptor here and add one line to :data:`PLUGINS`.
"""

from __future__ import annotations

from connectors.declarative.file_drop import PLUGIN as FILE_DROP
from connectors.declarative.http_pull import PLUGIN as HTTP_PULL
from connectors.declarative.http_push import PLUGIN as HTTP_PUSH
from connectors.declarative.sql_poll import PLUGIN as SQL_POLL
from connectors.kafka_source.plugin import PLUGIN as KAFKA_JSON
from connectors.runtime.plugin import Plugin
from connectors.sinks.http_webhook import PLUGIN as HTTP_WEBHOOK
from connectors.sinks.sql_table import PLUGIN as SQL_TABLE
from connectors.taxation.plugin import PLUGIN as TAXATION_SOAP

PLUGINS: dict[str, Plugin] = {
    # --- declarative sources (connectors/declarative/) ---
    HTTP_PULL.name: HTTP_PULL,
    HTTP_PUSH.name: HTTP_PUSH,
    SQL_POLL.name: SQL_POLL,
    FILE_DROP.name: FILE_DROP,
    # --- code adapters (connectors/<system>/) ---
    TAXATION_SOAP.name: TAXATION_SOAP,
    KAFKA_JSON.name: KAFKA_JSON,
    # --- sinks (connectors/sinks/) ---
    HTTP_WEBHOOK.name: HTTP_WEBHOOK,
    SQL_TABLE.name: SQL_TABLE,
}


def get_plugin(name: str) -> Plugin:
    """The plugin called ``name``; an unknown name is answered with the valid ones."""
    try:
        return PLUGINS[name]
    except KeyError:
        raise KeyError(f"unknown connector plugin {name!r}; valid plugins: {', '.join(sorted(PLUGINS)) or '(none)'}") from None
