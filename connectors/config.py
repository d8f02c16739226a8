"""The connector configuration every connector shares, plus its plugin-specific part.

``ConnectorConfig`` is what ``POST /connectors`` accepts and what the connector store
persists; ``config`` is validated by the plugin's own model (:func:`validate_config`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.plugins import get_plugin


class ConnectorConfig(BaseModel):
    """One registered connector."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,62}$",
                      description="Connector name; also names its dead-letter topic dlq.<name>.")
    plugin: str = Field(description="Plugin name, see GET /connector-plugins.")
    source_system: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,62}$",
                               description="System id stamped on every record's envelope (part of the record id).")
    mode: Literal["tolerant", "strict"] = Field(
        "tolerant", description="tolerant: dead-letter bad records and go on; strict: stop at the first.")
    batch_size: int = Field(500, ge=1, le=10000, description="Records per poll / commit.")
    encoding: str = Field("utf-8", description="Declared text encoding of the source (utf-8, gb18030, ...).")
    config: dict[str, Any] = Field(default_factory=dict, description="Plugin-specific settings (the plugin's schema).")


def validate_config(raw: dict) -> tuple[ConnectorConfig | None, BaseModel | None, list[dict]]:
    """Validate a whole connector config without starting anything.

    Returns ``(connector, plugin_config, errors)``; ``errors`` lists ``{"field": "config.url",
    "message": ...}`` entries (empty when valid), with field paths as the user wrote them.
    """
    try:
        connector = ConnectorConfig.model_validate(raw)
    except ValidationError as exc:
        return None, None, _errors(exc, prefix="")
    try:
        plugin = get_plugin(connector.plugin)
    except KeyError as exc:
        return connector, None, [{"field": "plugin", "message": str(exc.args[0])}]
    try:
        plugin_config = plugin.config_model.model_validate(connector.config)
    except ValidationError as exc:
        return connector, None, _errors(exc, prefix="config.")
    return connector, plugin_config, []


def _errors(exc: ValidationError, prefix: str) -> list[dict]:
    return [{"field": prefix + ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()]
