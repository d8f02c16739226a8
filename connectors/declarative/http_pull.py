"""``http-pull``: read JSON records from an HTTP API, paging by cursor, page number or time window.

Config (:class:`HttpPullConfig`): ``url``, static ``params`` / ``headers``, ``auth`` (bearer
token, basic user/password, or an API key in a named header -- all secrets), ``items_path``
(where the list of records is in the response, ``""`` = the body itself), ``paging`` (one of
the three below), ``timeout_seconds``. gzip bodies are decoded by httpx. Each item becomes a
RawRecord whose payload is the item's own UTF-8 JSON.

**Offsets** (one source partition, ``partition``): JSON ``{"cursor": c, "skip": k}``,
``{"page": p, "skip": k}`` or ``{"from": t, "skip": k}`` meaning "request position c / page p /
window starting at t again and drop its first k items". The last item of a page carries the
*next* position with ``skip`` 0; earlier items carry the page's own position with ``skip`` =
their index + 1. So a resume never skips a record and re-reads at most the page it stopped
in; it re-produces nothing as long as the source returns the same items for the same
position (append-only feeds; changing ``size`` with page paging needs an offset reset).
Page paging stops at an empty or short page (and re-reads that page next time, for rows
appended since); cursor paging stops at an empty page; time windows
advance up to ``now - lag_seconds`` and one request covers one window.

Errors: 5xx, timeouts and connection errors raise (the runner retries and rewinds); 401/403
raise :class:`~connectors.declarative.common.SourceConfigError`; other 4xx raise too.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.declarative.common import (
    DeclarativeSource,
    SourceConfigError,
    identity,
    parts,
    to_payload,
)
from connectors.mapping import get_path
from connectors.runtime.contract import RawRecord, SourceTask
from connectors.runtime.plugin import Plugin, PluginContext, SourceParts

_STRICT = ConfigDict(extra="forbid")


class BearerAuth(BaseModel):
    model_config = _STRICT
    type: Literal["bearer"] = Field(description="`Authorization: Bearer <token>`.")
    token: SecretStr = Field(description="The bearer token (secret; never returned).")


class BasicAuth(BaseModel):
    model_config = _STRICT
    type: Literal["basic"] = Field(description="HTTP basic authentication.")
    username: str = Field(description="User name.")
    password: SecretStr = Field(description="Password (secret; never returned).")


class ApiKeyAuth(BaseModel):
    model_config = _STRICT
    type: Literal["api_key"] = Field(description="An API key sent in a request header, e.g. `X-Api-Key: <key>`.")
    header: str = Field("X-Api-Key", pattern=r"^[A-Za-z0-9-]{1,64}$", description="Name of the header carrying the key.")
    key: SecretStr = Field(description="The API key (secret; never returned).")


class CursorPaging(BaseModel):
    model_config = _STRICT
    type: Literal["cursor"] = Field(description="Opaque cursor paging.")
    cursor_param: str = Field("cursor", description="Query parameter carrying the cursor (omitted on the first request).")
    next_cursor_path: str = Field("next_cursor", description="Response path of the next cursor.")
    size_param: str | None = Field("limit", description="Query parameter of the page size (None: not sent).")
    size: int = Field(100, ge=1, le=10000, description="Page size requested.")


class PagePaging(BaseModel):
    model_config = _STRICT
    type: Literal["page"] = Field(description="Page-number paging.")
    page_param: str = Field("page", description="Query parameter of the page number.")
    size_param: str = Field("size", description="Query parameter of the page size.")
    size: int = Field(100, ge=1, le=10000, description="Page size requested; a shorter page means 'no more for now'.")
    first_page: int = Field(1, ge=0, description="Number of the first page (0 or 1).")


class TimeWindowPaging(BaseModel):
    model_config = _STRICT
    type: Literal["time_window"] = Field(description="Records changed in [from, to) windows.")
    from_param: str = Field("from", description="Query parameter of the window start.")
    to_param: str = Field("to", description="Query parameter of the window end (exclusive).")
    start: dt.datetime = Field(description="Start of the first window (with offset, or in `timezone`).")
    window_seconds: int = Field(3600, ge=1, description="Window length.")
    lag_seconds: int = Field(60, ge=0, description="Never ask for times later than now minus this (late commits).")
    time_format: str = Field("iso", description="`iso`, `epoch_ms`, `epoch_s` or a strftime pattern.")
    timezone: str = Field("Asia/Shanghai", description="Time zone of naive times and of strftime output.")


class HttpPullConfig(DeclarativeSource):
    """Config of the ``http-pull`` plugin."""

    url: str = Field(pattern=r"^https?://", description="URL of the list endpoint.")
    params: dict[str, str] = Field(default_factory=dict, description="Extra query parameters sent on every request.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers (not secrets).")
    auth: Annotated[BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")] | None = Field(
        None, description="Authentication: bearer, basic or api_key; None for open endpoints.")
    paging: Annotated[CursorPaging | PagePaging | TimeWindowPaging, Field(discriminator="type")] = Field(
        description="How to walk the records: cursor, page or time_window.")
    items_path: str = Field("items", description="Response path of the record list; empty: the body is the list.")
    timeout_seconds: float = Field(10.0, gt=0, le=300, description="Connect and read timeout per request.")
    verify_tls: bool = Field(True, description="Verify the server's TLS certificate.")
    partition: str = Field("default", description="Source partition name of the offsets.")


class HttpPullTask(SourceTask):
    """Walks the configured paging; see the module docstring for offsets. Single-threaded (runner)."""

    def __init__(self, config: HttpPullConfig, clock=time.time, transport: httpx.BaseTransport | None = None):
        self.config, self.clock, self.transport = config, clock, transport
        self.client: httpx.Client | None = None
        self.position: dict[str, Any] = {}
        self.buffer: list[RawRecord] = []

    def open(self, offsets: dict[str, str]) -> None:
        auth = self.config.auth
        self.client = httpx.Client(
            timeout=self.config.timeout_seconds, verify=self.config.verify_tls, headers=self.config.headers,
            transport=self.transport,
            auth=httpx.BasicAuth(auth.username, auth.password.get_secret_value()) if isinstance(auth, BasicAuth) else None)
        if isinstance(auth, BearerAuth):
            self.client.headers["Authorization"] = f"Bearer {auth.token.get_secret_value()}"
        elif isinstance(auth, ApiKeyAuth):
            self.client.headers[auth.header] = auth.key.get_secret_value()
        stored = offsets.get(self.config.partition)
        self.position = json.loads(stored) if stored else self._start()
        self.buffer = []

    def _start(self) -> dict[str, Any]:
        p = self.config.paging
        if isinstance(p, CursorPaging):
            return {"cursor": None, "skip": 0}
        if isinstance(p, PagePaging):
            return {"page": p.first_page, "skip": 0}
        return {"from": _aware(p.start, p.timezone).isoformat(), "skip": 0}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def poll(self, max_records: int) -> list[RawRecord]:
        if not self.buffer:
            self.buffer = self._fetch()
        batch, self.buffer = self.buffer[:max_records], self.buffer[max_records:]
        return batch

    # -- one request -----------------------------------------------------------------------

    def _get(self, params: dict[str, Any]) -> Any:
        assert self.client is not None, "poll before open"
        response = self.client.get(self.config.url, params={**self.config.params, **params})
        if response.status_code in (401, 403):
            raise SourceConfigError(f"{self.config.url} answered {response.status_code}: check the connector's auth")
        response.raise_for_status()
        try:
            return response.json()
        except ValueError:
            raise ValueError(f"{self.config.url} did not answer JSON") from None

    def _items(self, body: Any) -> list[Any]:
        items = get_path(body, self.config.items_path) if self.config.items_path else body
        if items is None:
            return []
        if not isinstance(items, list):
            raise ValueError(f"response path {self.config.items_path!r} is not a list")
        return items

    def _fetch(self) -> list[RawRecord]:
        p, pos = self.config.paging, self.position
        if isinstance(p, CursorPaging):
            params = {p.size_param: p.size} if p.size_param else {}
            if pos["cursor"] is not None:
                params[p.cursor_param] = pos["cursor"]
            body = self._get(params)
            items = self._items(body)[pos["skip"]:]
            nxt = get_path(body, p.next_cursor_path)
            if not items:  # nothing new: the runner backs off and polls again
                return []
            after = {"cursor": nxt, "skip": 0} if nxt is not None else {"cursor": pos["cursor"],
                                                                          "skip": pos["skip"] + len(items)}
        elif isinstance(p, PagePaging):
            body = self._get({p.page_param: pos["page"], p.size_param: p.size})
            page = self._items(body)
            items = page[pos["skip"]:]
            if not items:
                return []
            full = len(page) >= p.size
            after = {"page": pos["page"] + 1, "skip": 0} if full else {"page": pos["page"], "skip": len(page)}
        else:
            start = dt.datetime.fromisoformat(pos["from"])
            end = min(start + dt.timedelta(seconds=p.window_seconds),
                      dt.datetime.fromtimestamp(self.clock() - p.lag_seconds, dt.UTC))
            if end <= start:
                return []
            body = self._get({p.from_param: _fmt(start, p), p.to_param: _fmt(end, p)})
            items = self._items(body)[pos["skip"]:]
            after = {"from": end.astimezone(start.tzinfo).isoformat(), "skip": 0}
            if not items:  # nothing in this window: move on without a record to carry the offset
                self.position = after
                return []
        return self._records(items, pos, after)

    def _records(self, items: list[Any], pos: dict[str, Any], after: dict[str, Any]) -> list[RawRecord]:
        out = []
        for i, item in enumerate(items):
            last = i == len(items) - 1
            offset = after if last else {**pos, "skip": pos["skip"] + i + 1}
            payload = to_payload(item)
            key, version = identity(self.config, item, payload, f"{self.config.partition}@{json.dumps(offset)}")
            out.append(RawRecord(self.config.partition, json.dumps(offset, ensure_ascii=False), key, version,
                                 payload, encoding="utf-8"))
        self.position = after
        return out


def _aware(t: dt.datetime, tz: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return t if t.tzinfo else t.replace(tzinfo=ZoneInfo(tz))


def _fmt(t: dt.datetime, p: TimeWindowPaging) -> str:
    from zoneinfo import ZoneInfo

    if p.time_format == "epoch_ms":
        return str(int(t.timestamp() * 1000))
    if p.time_format == "epoch_s":
        return str(int(t.timestamp()))
    local = t.astimezone(ZoneInfo(p.timezone))
    return local.isoformat() if p.time_format == "iso" else local.strftime(p.time_format)


def build(config: HttpPullConfig, ctx: PluginContext) -> SourceParts:
    """The task and mapper of one ``http-pull`` connector (no I/O until ``open``)."""
    return parts(HttpPullTask(config, clock=ctx.clock or time.time), config)


PLUGIN = Plugin(
    name="http-pull", kind="source", config_model=HttpPullConfig, build=build,
    description="Pull JSON records from an HTTP API (cursor, page-number or time-window paging; bearer, basic "
                "or API-key auth; gzip), map them declaratively onto a standard topic.")
