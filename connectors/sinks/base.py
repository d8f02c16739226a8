"""What every sink shares: the record a :class:`~connectors.runtime.plugin.SinkTask` receives,
the stable delivery id, the transient-failure error, and the common config (topic + filter).

A sink task gets a list of :class:`SinkRecord` dicts, in partition order, from
:class:`connectors.sinks.runner.SinkRunner`, and answers one outcome per record: ``None``
(delivered) or a :class:`~connectors.runtime.pipeline.RecordRejected` with stage ``deliver``
(permanent refusal, dead-lettered). For a transient failure it raises
:class:`TransientDeliveryError` carrying the outcomes of the records it did finish, so the
runner retries only the rest (any other exception retries the whole remaining batch).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from connectors.runtime.rules import values_at


class SinkRecord(TypedDict):
    """One decoded record handed to a sink task."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    """Kafka record timestamp, epoch milliseconds."""
    key: str | None
    value: dict[str, Any]
    """The Avro-decoded standard record (dates as ``date``, decimals as ``Decimal``)."""
    schema: str
    """Full name of the writer schema, e.g. ``gov.zj.supervision.penalty.PenaltyCaseEvent``."""
    record_id: str | None
    """``hub.record_id`` header, else ``value.envelope.record_id``; None for records without one."""
    delivery_id: str
    """Stable id of this record's delivery (see :func:`delivery_id`)."""


def delivery_id(record_id: str | None, topic: str, partition: int, offset: int) -> str:
    """32 hex chars, the same on every retry and re-consumption of one record.

    Derived from the record id when there is one, so a duplicate of a source record (same
    record id, another offset) also gets the same delivery id and receivers drop it; else
    from the Kafka position.
    """
    basis = f"rid:{record_id}" if record_id else f"pos:{topic}/{partition}/{offset}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


class TransientDeliveryError(RuntimeError):
    """Delivery failed for a reason that may pass (5xx, timeout, connection, database down).

    ``completed`` holds the outcomes of the first ``len(completed)`` records of the batch,
    which need not be delivered again. Messages never carry record values.
    """

    def __init__(self, message: str, completed: list[Any] | None = None):
        super().__init__(message)
        self.completed = list(completed or [])


class SinkConfig(BaseModel):
    """Fields every sink plugin config has: what to read and which records to keep."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$",
                       description="Topic to deliver (a catalog topic such as `risk.dispatches`).")
    where: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Filter: dotted field path -> accepted values (compared as strings); a record is delivered "
                    "only if every path has one of its values, e.g. {\"envelope.department_code\": [\"330000SCJ\"]}. "
                    "Empty: deliver everything. Filtered-out records count as handled (their offsets are committed).")

    def record_filter(self) -> Callable[[dict], bool] | None:
        """The ``where`` clause as a predicate over the decoded value, or None if empty."""
        return make_filter(self.where)


def make_filter(where: dict[str, list[str]]) -> Callable[[dict], bool] | None:
    """Predicate: every dotted path in ``where`` has at least one value among the accepted ones."""
    if not where:
        return None
    accepted = {path: {str(v) for v in values} for path, values in where.items()}

    def keep(value: dict) -> bool:
        return all(any(str(v) in ok for v in values_at(value, path)) for path, ok in accepted.items())

    return keep
