"""The ``http-webhook`` sink: POST each record as signed JSON to a department's endpoint.

**One request per record**, in partition order. A per-record request gives each record
its own outcome (a 400 for one record dead-letters that record only) and its own stable
``X-Hub-Delivery-Id`` for the receiver to deduplicate on; the cost is one round trip per
record, fine for department feeds (hundreds per second on a LAN), not for bulk copies --
use the ``sql-table`` sink or a Kafka subscription for those.

Request: ``POST <url>``, ``Content-Type: application/json``, body
``{"delivery_id", "record_id", "topic", "partition", "offset", "key", "schema", "masked", "value"}``
with dates, datetimes and decimals as strings; headers ``X-Hub-Delivery-Id``,
``X-Hub-Timestamp`` (Unix seconds of this attempt) and ``X-Hub-Signature``
(:func:`connectors.sinks.signing.sign` over ``f"{timestamp}.{body}"``).

Outcomes: 2xx delivered; 408, 429, 5xx, timeouts and connection errors are transient
(retried here with exponential backoff and jitter, then raised as
:class:`~connectors.sinks.base.TransientDeliveryError` so the runner retries the rest of
the batch later); any other status is a permanent refusal, dead-lettered with reason
``http_<status>``. Personal data is masked (:mod:`connectors.sinks.masking`) unless
``mask_pii`` is off or the destination is ``pii_cleared``.

Runs on the sink runner's worker thread; one ``httpx.Client`` per task.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from connectors.runtime.pipeline import RecordRejected
from connectors.runtime.plugin import Plugin, PluginContext, SinkTask
from connectors.sinks.base import SinkConfig, SinkRecord, TransientDeliveryError
from connectors.sinks.masking import mask_record
from connectors.sinks.signing import signed_headers

TRANSIENT_STATUSES = frozenset({408, 429})


class WebhookConfig(SinkConfig):
    """Config of the ``http-webhook`` sink."""

    url: AnyHttpUrl = Field(description="Endpoint that receives one POST per record.")
    secret: SecretStr = Field(min_length=16, description="Shared HMAC-SHA256 key for X-Hub-Signature (16+ chars).")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Timeout of one request (connect + read).")
    mask_pii: bool = Field(True, description="Mask fields tagged `pii` in the schema (names, ID numbers, phones, "
                                             "addresses) before sending.")
    pii_cleared: bool = Field(False, description="The destination is cleared for personal data: send it unmasked "
                                                 "even if `mask_pii` is on (record the clearance decision).")
    retry_attempts: int = Field(4, ge=1, le=20, description="Tries per record for transient failures before the "
                                                            "batch is handed back to the runner to retry later.")
    retry_initial_seconds: float = Field(0.2, gt=0, description="First backoff between tries (doubles, jittered).")
    retry_max_seconds: float = Field(5.0, gt=0, description="Longest backoff between tries.")


class _Retry(Exception):
    """A transient failure of one request (status code or transport error class in the message)."""


def classify(status: int) -> Literal["delivered", "retry", "reject"]:
    """What a response status means: 2xx delivered; 408, 429, 5xx retry; anything else reject."""
    if 200 <= status < 300:
        return "delivered"
    if status in TRANSIENT_STATUSES or status >= 500:
        return "retry"
    return "reject"


def _default(o: Any) -> Any:
    if isinstance(o, dt.datetime | dt.date | dt.time):
        return o.isoformat()
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, bytes):
        return base64.b64encode(o).decode("ascii")
    if isinstance(o, uuid.UUID):
        return str(o)
    raise TypeError(f"cannot encode {type(o).__name__} as JSON")


def encode_body(record: SinkRecord, value: dict, masked: bool) -> bytes:
    """The request body of ``record`` (compact UTF-8 JSON, Chinese text unescaped)."""
    doc = {"delivery_id": record["delivery_id"], "record_id": record["record_id"], "topic": record["topic"],
           "partition": record["partition"], "offset": record["offset"], "key": record["key"],
           "schema": record["schema"], "masked": masked, "value": value}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=_default).encode("utf-8")


class WebhookTask(SinkTask):
    """Delivers records to ``config.url``. ``transport`` (httpx) and ``clock`` are for tests."""

    def __init__(self, config: WebhookConfig, *, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.time):
        self.config, self.transport, self.clock = config, transport, clock
        self.url = str(config.url)
        self.mask = config.mask_pii and not config.pii_cleared
        self._client: httpx.Client | None = None

    def open(self) -> None:
        if self._client is None:
            self._client = httpx.Client(timeout=self.config.timeout_seconds, transport=self.transport,
                                        follow_redirects=False)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def deliver(self, records: list[SinkRecord]) -> list[RecordRejected | None]:
        self.open()
        outcomes: list[RecordRejected | None] = []
        retrying = Retrying(
            stop=stop_after_attempt(self.config.retry_attempts), reraise=True, retry=retry_if_exception_type(_Retry),
            wait=wait_exponential_jitter(initial=self.config.retry_initial_seconds, max=self.config.retry_max_seconds))
        for record in records:
            try:
                body = self._body(record)
            except RecordRejected as rej:
                outcomes.append(rej)
                continue
            try:
                outcomes.append(retrying(self._post, record, body))
            except _Retry as exc:
                raise TransientDeliveryError(f"webhook delivery failed after {self.config.retry_attempts} tries: "
                                             f"{exc}", completed=outcomes) from None
        return outcomes

    def _body(self, record: SinkRecord) -> bytes:
        value = record["value"]
        if self.mask:
            try:
                value = mask_record(record["schema"], value)
            except ValueError:
                raise RecordRejected("deliver", "pii_unknown_schema",
                                     "schema is not in the data standard; cannot mask personal data") from None
        try:
            return encode_body(record, value, self.mask)
        except (TypeError, ValueError) as exc:
            raise RecordRejected("deliver", "json_encode", str(exc)) from None

    def _post(self, record: SinkRecord, body: bytes) -> RecordRejected | None:
        assert self._client is not None
        headers = signed_headers(self.config.secret, body, record["delivery_id"], timestamp=int(self.clock()))
        headers["Content-Type"] = "application/json"
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:  # timeouts, refused connections, resets
            raise _Retry(type(exc).__name__) from None
        verdict = classify(response.status_code)
        if verdict == "delivered":
            return None
        if verdict == "retry":
            raise _Retry(f"HTTP {response.status_code}")
        return RecordRejected("deliver", f"http_{response.status_code}",
                              f"endpoint refused the record with HTTP {response.status_code}")


def build(config: WebhookConfig, context: PluginContext) -> WebhookTask:
    return WebhookTask(config)


PLUGIN = Plugin(
    name="http-webhook",
    kind="sink",
    description="Deliver a topic (optionally filtered) to an HTTP endpoint: one HMAC-signed JSON POST per record, "
                "stable X-Hub-Delivery-Id, retries with backoff, 4xx dead-lettered, personal data masked "
                "unless cleared.",
    config_model=WebhookConfig,
    build=build,
)
