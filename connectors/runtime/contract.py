"""The adapter contract: what a source adapter implements, and nothing else.

An adapter turns an existing system into a stream of :class:`RawRecord` (bytes plus their
source position) through a :class:`SourceTask`, and a pure :class:`Mapper` turns one decoded
source document into standard records (:class:`Mapped`). Everything else -- decoding,
identifier repair, validation, Avro encoding, producing, retries, dead letters, metrics and
checkpoints -- lives once, in :class:`connectors.runtime.runner.SourceRunner`.

An adapter never imports a Kafka client and never commits anything itself: the runner
commits a source offset only after every record up to it was acknowledged by the broker
(or dead-lettered and acknowledged), so the adapter must be able to resume from any offset
it handed out (at-least-once; duplicates carry the same record id).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass
from typing import Any, Protocol

Doc = dict[str, Any] | list[Any] | str
"""A decoded source document: parsed JSON (object or array) or plain text."""


_RAW_FIELDS = ("partition", "offset", "key", "version", "payload", "encoding", "content_type")


class RawRecord:
    """One record exactly as the source delivered it, with the position to resume after it.

    ``partition`` names the source partition (a table, endpoint, file or queue; ``"default"``
    when the source has one). ``offset`` is opaque to the runtime: a JSON-serialisable string
    meaning "everything up to and including this record"; the adapter receives it back in
    :meth:`SourceTask.open` after a restart. ``key`` is the department-side business key and
    ``version`` the source version of the row (``updated_at``, a sequence, ...): together with
    the source system they make the deterministic record id. ``payload`` is the original
    bytes -- the dead-letter value if the record is rejected. ``encoding`` is the declared text
    encoding of ``payload`` (``None``: the connector's declared encoding, default UTF-8);
    ``content_type`` selects the decoder (:data:`connectors.runtime.pipeline.DECODERS`).

    ``decoded`` is optional: the document ``payload`` decodes to, when the adapter built it
    anyway (to find the key) and it is a flat object -- ``str`` names to ``str``, ``int``,
    ``float``, ``bool`` or ``None``. The runner then decodes a copy of it instead of parsing
    ``payload`` again, so it must equal what :func:`~connectors.runtime.pipeline.decode`
    would return. Nobody modifies it (the runner repairs its copy); it takes no part in equality.

    ``payload`` may be given as a function of no arguments returning the bytes, for an adapter
    whose payload is a rendering it only needs for a dead letter (a SQL row as JSON, with
    ``decoded`` for the runner): it is called on first access to :attr:`payload`, and its
    result kept. Frozen, compared and hashed like a dataclass of the seven fields above.
    """

    __slots__ = (*_RAW_FIELDS[:4], "_payload", "encoding", "content_type", "decoded")
    __match_args__ = _RAW_FIELDS
    partition: str
    offset: str
    key: str
    version: str
    encoding: str | None
    content_type: str
    decoded: dict[str, Any] | None

    def __init__(self, partition: str, offset: str, key: str, version: str,
                 payload: bytes | Callable[[], bytes], encoding: str | None = None,
                 content_type: str = "application/json", decoded: dict[str, Any] | None = None):
        init = object.__setattr__  # frozen: __setattr__ refuses
        init(self, "partition", partition)
        init(self, "offset", offset)
        init(self, "key", key)
        init(self, "version", version)
        init(self, "_payload", payload)
        init(self, "encoding", encoding)
        init(self, "content_type", content_type)
        init(self, "decoded", decoded)

    @property
    def payload(self) -> bytes:
        payload = self._payload
        if callable(payload):
            payload = payload()
            object.__setattr__(self, "_payload", payload)
        return payload

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in _RAW_FIELDS)

    def __eq__(self, other: object) -> bool:
        return self._fields() == other._fields() if type(other) is type(self) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(_RAW_FIELDS, self._fields(), strict=True))
        return f"RawRecord({fields})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple:  # copy and pickle through __init__ (attributes are frozen)
        return type(self), (*self._fields(), self.decoded)


@dataclass(frozen=True, slots=True)
class Mapped:
    """One standard record produced by a mapper: a catalog topic name and its value dict.

    ``value`` follows the topic's Avro schema (dates as ``datetime.date``, timestamps as
    epoch milliseconds, money as ``decimal.Decimal``). If it has an ``envelope``, the mapper
    fills ``operation``, ``event_time``, ``region_code``, ``department_code`` and ``batch``;
    the runner stamps the identity fields (see :func:`connectors.runtime.pipeline.stamp_envelope`).
    """

    topic: str
    value: dict[str, Any]


class MappingError(ValueError):
    """Raised by a mapper to reject a record (dead-letter stage ``map``).

    ``reason`` is a short machine code (``missing_field``, ``unknown_code``, ...); ``message``
    names fields and rules but never contains field values (they may be personal data).
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class Mapper(Protocol):
    """A pure function from one decoded source document to zero or more standard records.

    Called on the runner's worker thread, once per record, with the decoded ``doc`` and the
    :class:`RawRecord` it came from (for its key, version and position). It must not do I/O
    or keep state between calls. It returns ``[]`` to skip a record on purpose (the offset is
    still committed) and raises :class:`MappingError` to reject it; any other exception is
    also a rejection (reason ``mapper_error``), reported by class name only.
    """

    def __call__(self, doc: Doc, raw: RawRecord) -> list[Mapped]: ...


class SourceTask(ABC):
    """What a source adapter implements: open at the committed offsets, poll batches, close.

    Every method is called on the runner's single worker thread, never concurrently:

    1. :meth:`open` once before the first poll, and again (after :meth:`close`) whenever the
       runner must rewind -- a failed delivery, a failed checkpoint, a restart -- with the
       offsets committed so far;
    2. :meth:`poll` repeatedly;
    3. :meth:`close` when the connector stops, pauses or rewinds.

    A task keeps its own read position between polls; the runner never tells it that a
    batch was committed, only where to resume after a rewind.
    """

    @abstractmethod
    def open(self, offsets: dict[str, str]) -> None:
        """Prepare to read, resuming *after* ``offsets[partition]`` for every known partition.

        ``offsets`` holds the last committed offset per source partition; it is empty on the
        first start (read from the beginning, or from wherever the adapter's config says).
        """

    @abstractmethod
    def poll(self, max_records: int) -> list[RawRecord]:
        """Return at most ``max_records`` new records in source order, or ``[]`` when idle.

        Must not block longer than a short timeout (about a second) so the runner can stop,
        pause and flush in time. May raise for transient errors (network, database): the
        runner retries with bounded exponential backoff and jitter, then rewinds.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections and files. Called at most once per :meth:`open`."""
