"""Small synchronous client of a Confluent-compatible schema registry (the hub's own or Confluent's).

Used by the hub's serializer, which adds id caching on top. Thread-safe (one ``httpx.Client``);
every call is one HTTP request with a short timeout and no retries. Any non-2xx answer or
transport failure raises :class:`RegistryError`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(Exception):
    """A failed registry call: HTTP ``status`` (0 if none), Confluent ``error_code`` and ``message``."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status, self.error_code, self.message = status, error_code, message


class RegistryClient:
    """``base_url`` is the registry root, e.g. ``http://127.0.0.1:8000/registry``; ``auth`` is
    anything httpx accepts (``("client_id", "secret")`` for HTTP Basic, or an ``httpx.Auth``)."""

    def __init__(self, base_url: str, auth: Any = None, timeout: float = 5.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=auth,
            timeout=timeout,
            headers={"Accept": f"{MEDIA_TYPE}, application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        try:
            r = self._http.request(
                method,
                path,
                content=None if body is None else json.dumps(body),
                headers=None if body is None else {"Content-Type": MEDIA_TYPE},
            )
        except httpx.HTTPError as exc:
            raise RegistryError(0, -1, f"registry unreachable: {exc}") from exc
        if r.is_success:
            return r.json() if r.content else None
        try:
            data = r.json()
            raise RegistryError(r.status_code, int(data["error_code"]), str(data["message"]))
        except (ValueError, KeyError, TypeError):
            raise RegistryError(r.status_code, -1, r.text[:500]) from None

    @staticmethod
    def _subject(subject: str) -> str:
        return quote(subject, safe="")

    def register(self, subject: str, schema_str: str) -> int:
        """Register an Avro schema under ``subject``; returns its global id (409 if incompatible)."""
        body = {"schema": schema_str, "schemaType": "AVRO"}
        return int(self._call("POST", f"/subjects/{self._subject(subject)}/versions", body)["id"])

    def lookup(self, subject: str, schema_str: str) -> int:
        """The id of ``schema_str`` if it is registered under ``subject`` (404 40401/40403 if not)."""
        body = {"schema": schema_str, "schemaType": "AVRO"}
        return int(self._call("POST", f"/subjects/{self._subject(subject)}", body)["id"])

    def schema_id(self, subject: str, schema_str: str) -> int:
        """Id for producing ``schema_str`` under ``subject``: looked up (a read, no scope needed),
        registered only if absent (needs ``schemas:write`` credentials)."""
        try:
            return self.lookup(subject, schema_str)
        except RegistryError as exc:
            if exc.status != 404:
                raise
        return self.register(subject, schema_str)

    def get_schema(self, schema_id: int) -> str:
        """The schema text registered under ``schema_id`` (40403 if unknown)."""
        return self._call("GET", f"/schemas/ids/{int(schema_id)}")["schema"]

    def latest(self, subject: str) -> tuple[int, int, str]:
        """``(schema_id, version, schema_str)`` of the subject's latest live version."""
        data = self._call("GET", f"/subjects/{self._subject(subject)}/versions/latest")
        return int(data["id"]), int(data["version"]), data["schema"]

    def check_compatible(self, subject: str, schema_str: str) -> tuple[bool, list[str]]:
        """Whether registering ``schema_str`` would pass the subject's compatibility level, and
        why not. A subject without versions accepts anything."""
        body = {"schema": schema_str, "schemaType": "AVRO"}
        path = f"/compatibility/subjects/{self._subject(subject)}/versions?verbose=true"
        data = self._call("POST", path, body)
        return bool(data["is_compatible"]), list(data.get("messages") or [])
