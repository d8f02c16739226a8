"""The data standard as registry subjects: register it, or check it against a registry.

Subjects:

* ``<topic>-value`` for every catalog topic (TopicNameStrategy: what producers use), and
* ``<record full name>`` for every ``.avsc`` (RecordNameStrategy), so that every file of the
  standard, embedded types included, is under compatibility control.

``check_all`` never writes: for each subject it reports ``new`` (not registered yet),
``registered`` (identical schema already there), ``compatible`` or ``incompatible`` (with
the registry's messages naming the field and the reason), or ``error``.
"""

from __future__ import annotations

from pathlib import Path

from hub_api.registry.client import RegistryClient, RegistryError
from ops.settings import HubSettings
from schemas import loader
from topics.catalog import CATALOG


def standard_subjects(directory: str | Path | None = None) -> dict[str, tuple[str, str]]:
    """subject -> (record full name, schema JSON) for the standard in ``directory``."""
    directory = Path(directory) if directory else loader.SCHEMA_DIR
    names = loader.list_schemas(directory)
    out: dict[str, tuple[str, str]] = {}
    for spec in CATALOG.values():
        if spec.value_schema in names:
            out[spec.value_subject] = (spec.value_schema, loader.schema_json(spec.value_schema, directory))
    for name in names:
        out[name] = (name, loader.schema_json(name, directory))
    return out


def registry_client(settings: HubSettings, url: str | None = None) -> RegistryClient:
    """A client for ``url`` (or the configured registry), authenticated by ``HUB_REGISTRY_CLIENT_ID``/``SECRET``."""
    auth = None
    if settings.registry_client_id and settings.registry_client_secret:
        auth = (settings.registry_client_id, settings.registry_client_secret.get_secret_value())
    return RegistryClient(url or settings.effective_registry_url, auth=auth)


def _latest_text(client: RegistryClient, subject: str) -> str | None:
    try:
        return client.latest(subject)[2]
    except RegistryError as exc:
        if exc.status == 404:
            return None
        raise


def check_all(client: RegistryClient, subjects: dict[str, tuple[str, str]]) -> list[dict]:
    """Compare every subject with the registry under its configured compatibility level."""
    results = []
    for subject, (record, text) in subjects.items():
        try:
            latest = _latest_text(client, subject)
            if latest is None:
                results.append({"subject": subject, "record": record, "status": "new", "messages": []})
                continue
            if _same(latest, text):
                results.append({"subject": subject, "record": record, "status": "registered", "messages": []})
                continue
            ok, messages = client.check_compatible(subject, text)
            results.append({"subject": subject, "record": record,
                            "status": "compatible" if ok else "incompatible", "messages": messages})
        except RegistryError as exc:
            results.append({"subject": subject, "record": record, "status": "error",
                            "messages": [f"{exc.status} {exc.error_code}: {exc.message}"]})
    return results


def register_all(client: RegistryClient, subjects: dict[str, tuple[str, str]]) -> list[dict]:
    """Register every subject (a no-op for identical schemas); incompatible ones are reported, not forced."""
    results = []
    for subject, (record, text) in subjects.items():
        try:
            schema_id = client.register(subject, text)
            results.append({"subject": subject, "record": record, "status": "registered", "id": schema_id,
                            "messages": []})
        except RegistryError as exc:
            status = "incompatible" if exc.status == 409 else "error"
            results.append({"subject": subject, "record": record, "status": status,
                            "messages": [exc.message]})
    return results


def print_results(results: list[dict]) -> None:
    for r in results:
        print(f"{r['status']:<13} {r['subject']}")
        for m in r.get("messages") or []:
            print(f"    {m}")
    bad = sum(r["status"] in ("incompatible", "error") for r in results)
    print(f"{len(results)} subjects, {bad} incompatible or failed")


def _same(a: str, b: str) -> bool:
    import json

    return json.loads(a) == json.loads(b)
