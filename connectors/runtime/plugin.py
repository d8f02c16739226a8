"""Plugin descriptors: how a connector type declares its config and builds its parts.

A plugin is data: a name, a description, a pydantic config model (``extra="forbid"``,
every field described, secrets as ``SecretStr``) and a ``build`` function. The same
config model validates the REST request, renders the JSON schema shown by
``GET /connector-plugins`` and can be checked without starting anything (Kafka Connect's
``ConfigDef``). The table of plugins is :data:`connectors.plugins.PLUGINS`.

``build`` is called by a connect worker, on the thread that will run the connector, each
time the connector (re)starts; it must not do blocking I/O beyond opening clients (the
task's ``open`` does the rest).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from connectors.runtime.contract import Mapper, SourceTask
from ops.settings import HubSettings


@dataclass(frozen=True)
class PluginContext:
    """What a plugin's ``build`` may use besides its own config."""

    connector: str
    settings: HubSettings
    state_dir: Path
    """A directory private to this connector (archives of processed files, cursors of last resort)."""
    clock: Callable[[], float] = field(default=None)  # type: ignore[assignment]


@dataclass(frozen=True)
class SourceParts:
    """A built source: the task that reads the system and the mapper that standardises it."""

    task: SourceTask
    mapper: Mapper
    identifier_fields: tuple[str, ...] = ()
    """Dotted paths in the decoded document to repair (full-width digits, spaces) before mapping."""


class SinkTask(abc.ABC):
    """Delivers standard records from a topic to a department's system.

    Runs on the sink runner's worker thread. ``deliver`` receives a batch of decoded records
    (with their Kafka positions) and returns, per record, ``None`` (delivered) or a
    :class:`connectors.runtime.pipeline.RecordRejected` with stage ``deliver`` (permanent
    refusal: dead-lettered). Transient failures raise; the runner retries the batch and
    commits consumer offsets only after every record was delivered or dead-lettered.
    """

    def open(self) -> None:  # noqa: B027 - optional hook
        """Open clients (HTTP session, database engine)."""

    @abc.abstractmethod
    def deliver(self, records: list[dict[str, Any]]) -> list[Any]:
        """Deliver ``records`` in order; one outcome per record."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients."""


@dataclass(frozen=True)
class Plugin:
    """One connector type: ``kind`` source or sink."""

    name: str
    kind: Literal["source", "sink"]
    description: str
    config_model: type[BaseModel]
    build: Callable[[BaseModel, PluginContext], SourceParts | SinkTask]

    def config_schema(self) -> dict:
        """The JSON schema of this plugin's config (secrets marked ``writeOnly``)."""
        return self.config_model.model_json_schema()
