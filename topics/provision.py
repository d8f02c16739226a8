"""Provisioning: make the broker's topics match the catalog, idempotently.

``apply`` creates the catalog topics that are missing and reports *drift* on the
ones that exist (partition count or topic configs that differ from the catalog).
It never deletes topics, never shrinks partitions and never rewrites configs: a
drifted topic is an operator decision, so it is reported, not "fixed".
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field

from topics.catalog import CATALOG, TopicSpec


@dataclass
class TopicReport:
    """Outcome for one catalog topic: ``created``, ``ok``, ``drift`` or ``missing``."""

    name: str
    status: str
    partitions: int | None = None
    details: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _describe(admin, names: list[str]) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """Partition counts and reported (non-default) configs of existing topics among ``names``."""
    from kafka.admin import ConfigResource, ConfigResourceType

    existing = set(admin.list_topics())
    present = [n for n in names if n in existing]
    if not present:
        return {}, {}
    partitions = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(present)}
    configs: dict[str, dict[str, str]] = {}
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, n) for n in present]
    ).get("topic", {})
    for name, entries in described.items():
        configs[name] = {k: v.get("value") for k, v in entries.items()}
    return partitions, configs


def _drift(spec: TopicSpec, partitions: int, configs: dict[str, str]) -> list[str]:
    details = []
    if partitions != spec.partitions:
        details.append(f"partitions: catalog {spec.partitions}, broker {partitions}")
    # Brokers that report no topic configs (Tansu does not) cannot show config drift.
    if configs:
        for key, want in spec.config().items():
            have = configs.get(key)
            if have is not None and str(have) != str(want):
                details.append(f"{key}: catalog {want}, broker {have}")
    return details


def plan(admin, catalog: dict[str, TopicSpec] = CATALOG) -> list[TopicReport]:
    """Compare broker and catalog without changing anything (status ``missing`` / ``ok`` / ``drift``)."""
    partitions, configs = _describe(admin, list(catalog))
    reports = []
    for name, spec in catalog.items():
        if name not in partitions:
            reports.append(TopicReport(name, "missing"))
            continue
        details = _drift(spec, partitions[name], configs.get(name, {}))
        reports.append(TopicReport(name, "drift" if details else "ok", partitions[name], details))
    return reports


def apply(admin, catalog: dict[str, TopicSpec] = CATALOG, replication_factor: int = 1) -> list[TopicReport]:
    """Create missing catalog topics; report drift on existing ones. Safe to run repeatedly."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    reports = plan(admin, catalog)
    missing = [r for r in reports if r.status == "missing"]
    if missing:
        new = [
            NewTopic(r.name, catalog[r.name].partitions, replication_factor,
                     topic_configs=catalog[r.name].config())
            for r in missing
        ]
        # Created concurrently by another `hub topics apply`? Then the next plan shows it.
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(new, raise_errors=False)
        for r in missing:
            r.status, r.partitions = "created", catalog[r.name].partitions
    return reports


def ensure_topic(admin, name: str, partitions: int = 1, configs: dict[str, str] | None = None,
                 replication_factor: int = 1) -> bool:
    """Create one non-catalog topic (e.g. a dead-letter topic) if missing; True if created."""
    from kafka.admin import NewTopic

    if name in set(admin.list_topics()):
        return False
    admin.create_topics([NewTopic(name, partitions, replication_factor, topic_configs=configs or {})],
                        raise_errors=False)
    return True
