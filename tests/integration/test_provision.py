"""`hub topics apply` semantics against the real broker: creates, is idempotent, reports drift."""

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from topics import provision
from topics.catalog import CATALOG, TopicSpec

pytestmark = pytest.mark.integration


def _private_catalog(suffix: str) -> dict[str, TopicSpec]:
    """The real catalog under unique names, so the shared session broker stays clean."""
    return {f"{n}.{suffix}": spec.model_copy(update={"name": f"{n}.{suffix}"}) for n, spec in CATALOG.items()}


def test_apply_creates_everything_then_is_idempotent(kafka_bootstrap):
    catalog = _private_catalog("apply")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        first = provision.apply(admin, catalog)
        assert {r.status for r in first} == {"created"}
        assert len(first) == len(CATALOG)
        second = provision.apply(admin, catalog)
        assert {r.status for r in second} == {"ok"}
        existing = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(catalog))}
        assert existing == {n: s.partitions for n, s in catalog.items()}
    finally:
        admin.close()


def test_drift_is_reported_not_fixed(kafka_bootstrap):
    catalog = _private_catalog("drift")
    name = next(iter(catalog))
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(name, catalog[name].partitions + 2, 1)])
        reports = {r.name: r for r in provision.apply(admin, catalog)}
        assert reports[name].status == "drift"
        assert f"partitions: catalog {catalog[name].partitions}" in reports[name].details[0]
        assert all(r.status == "created" for n, r in reports.items() if n != name)
        # Reported, not "fixed": the broker still has the operator's partition count.
        assert len(admin.describe_topics([name])[0]["partitions"]) == catalog[name].partitions + 2
    finally:
        admin.close()


def test_registry_topics_are_created_compacted(kafka_bootstrap):
    compacted = [s for s in CATALOG.values() if s.cleanup_policy == "compact"]
    assert compacted, "the catalog has registry topics"
    assert all(s.config()["cleanup.policy"] == "compact" for s in compacted)
