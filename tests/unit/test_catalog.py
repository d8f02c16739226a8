"""The topic catalog: names, keys, schemas, policies and classification agree with the data standard."""

from __future__ import annotations

import json

import avro.schema
import pytest
from pydantic import ValidationError

from schemas import loader
from topics.catalog import CATALOG, NAME_PATTERN, OWNERS, TopicSpec, dead_letter_topic, get

SPECS = list(CATALOG.values())
REGISTRIES = {"catalog.items", "officer.registry", "entity.registry", "entity.item-links"}


def _referenced(node, out: set[str]) -> None:
    """Full names of named types referenced by name (not defined inline) in a raw schema."""
    if isinstance(node, str):
        if "." in node:
            out.add(node)
    elif isinstance(node, list):
        for branch in node:
            _referenced(branch, out)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind == "record":
            for field in node["fields"]:
                _referenced(field["type"], out)
        elif kind == "array":
            _referenced(node["items"], out)
        elif kind == "map":
            _referenced(node["values"], out)


def test_catalog_is_keyed_by_name():
    assert SPECS and all(name == spec.name for name, spec in CATALOG.items())
    assert REGISTRIES | {"penalty.case.events", "inspection.records", "complaint.tickets", "grassroots.events",
                         "risk.alerts", "risk.dispatches", "risk.feedback", "task.joint", "task.assignments",
                         "task.status", "sampling.plans", "sampling.draws", "quality.reports",
                         "penalty.coercions", "supervision.alerts"} <= set(CATALOG)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_name_follows_convention(spec):
    assert NAME_PATTERN.match(spec.name), spec.name
    assert not spec.name.startswith("dlq.")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_value_schema_parses(spec):
    assert spec.value_schema in loader.list_schemas()
    assert avro.schema.parse(loader.schema_json(spec.value_schema)).fullname == spec.value_schema


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_key_field_is_a_required_string_in_the_value(spec):
    attrs = loader.field_attributes(spec.value_schema)
    assert spec.key_field in attrs, f"{spec.name}: {spec.key_field} not in {spec.value_schema}"
    node = json.loads(loader.schema_json(spec.value_schema))
    for part in spec.key_field.split("."):
        node = next(f for f in node["fields"] if f["name"] == part)["type"]
    assert node == "string", f"{spec.name}: the key must be a required string, not {node}"
    assert attrs[spec.key_field]["pii"] is None, f"{spec.name}: a key must never be personal information"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_policy_owner_level_and_description(spec):
    if spec.name in REGISTRIES:
        assert spec.cleanup_policy == "compact"
        assert spec.config() == {"cleanup.policy": "compact"}
    else:
        assert spec.cleanup_policy == "delete"
        assert 7 <= spec.retention_ms / 86_400_000 <= 30
        assert spec.config() == {"cleanup.policy": "delete", "retention.ms": str(spec.retention_ms)}
    assert "min.insync.replicas" not in spec.config()
    assert spec.owner in OWNERS
    strictest = max(a["level"] for a in loader.field_attributes(spec.value_schema).values())
    assert spec.level >= strictest, f"{spec.name}: level {spec.level} below its fields' {strictest}"
    assert any("\u4e00" <= c <= "\u9fff" for c in spec.description) and " / " in spec.description


def test_every_schema_is_used_by_a_topic_or_another_schema():
    used = {spec.value_schema for spec in SPECS}
    for name in loader.list_schemas():
        raw = json.loads((loader.SCHEMA_DIR / f"{name}.avsc").read_text(encoding="utf-8"))
        _referenced(raw, used)
    assert set(loader.list_schemas()) <= used, set(loader.list_schemas()) - used


def test_pii_fields_come_from_the_schema():
    complaints = get("complaint.tickets")
    assert complaints.pii_fields["complainant_phone"] == "phone"
    assert get("officer.registry").pii_fields["resident_id"] == "id_number"
    assert get("quality.reports").pii_fields == {}
    assert complaints.value_subject == "complaint.tickets-value"


def test_get_unknown_topic_lists_valid_names():
    with pytest.raises(KeyError, match="valid topics: .*penalty.case.events"):
        get("penalty.cases")


def test_spec_is_frozen_and_strict():
    spec = get("entity.registry")
    with pytest.raises(ValidationError):
        spec.partitions = 12
    with pytest.raises(ValidationError):
        TopicSpec(**spec.model_dump(), replication_factor=3)
    with pytest.raises(ValidationError):
        TopicSpec(**{**spec.model_dump(), "cleanup_policy": "compact,delete"})
    assert all(f.description for f in TopicSpec.model_fields.values())


def test_dead_letter_topic_convention():
    assert dead_letter_topic("penalty-sys-03") == "dlq.penalty-sys-03"
    assert dead_letter_topic("dlq.x") == "dlq.dlq.x"
    for bad in ("", "has space", "中文"):
        with pytest.raises(ValueError):
            dead_letter_topic(bad)
    assert not any(name.startswith("dlq.") for name in CATALOG)
