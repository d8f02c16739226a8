"""Compatibility levels on small schemas: which pairs are checked and what the messages say."""

from __future__ import annotations

import json

import pytest

from hub_api.registry import compat


def record(*fields: dict, name: str = "Person") -> compat.ParsedSchema:
    return compat.parse(json.dumps({"type": "record", "name": name, "fields": list(fields)}))


ID = {"name": "id", "type": "string"}
AGE_DEFAULT = {"name": "age", "type": "int", "default": 0}
AGE = {"name": "age", "type": "int"}


def check(new: compat.ParsedSchema, olds: list[compat.ParsedSchema], level: str) -> list[str]:
    return compat.check(new.avro, [(i + 1, s.avro) for i, s in enumerate(olds)], level)


@pytest.mark.parametrize("level", ["BACKWARD", "FULL", "BACKWARD_TRANSITIVE", "FULL_TRANSITIVE"])
def test_adding_a_field_with_default_is_backward_compatible(level):
    assert check(record(ID, AGE_DEFAULT), [record(ID)], level) == []


def test_adding_a_field_without_default_is_not_backward_compatible_and_names_it():
    messages = check(record(ID, AGE), [record(ID)], "BACKWARD")
    assert messages == [
        "BACKWARD with version 1 (new schema cannot read its data): /fields/1: "
        "reader field 'age' has no default value and is missing from the writer schema"
    ]


def test_adding_a_field_without_default_is_forward_compatible():
    assert check(record(ID, AGE), [record(ID)], "FORWARD") == []


def test_removing_a_field_is_forward_incompatible_without_default_and_fine_with_one():
    assert check(record(ID), [record(ID, AGE_DEFAULT)], "FORWARD") == []
    assert check(record(ID), [record(ID, AGE_DEFAULT)], "BACKWARD") == []
    messages = check(record(ID), [record(ID, AGE)], "FORWARD")
    assert len(messages) == 1 and "/fields/1" in messages[0] and "'age'" in messages[0]
    assert check(record(ID), [record(ID, AGE)], "BACKWARD") == []


def test_int_to_string_is_incompatible_both_ways_with_location_and_types():
    old, new = record(ID, AGE), record(ID, {"name": "age", "type": "string"})
    backward = check(new, [old], "BACKWARD")
    forward = check(new, [old], "FORWARD")
    assert backward == [
        "BACKWARD with version 1 (new schema cannot read its data): /fields/1/type: "
        "reader type 'string' not compatible with writer type 'int'"
    ]
    assert forward == [
        "FORWARD with version 1 (it cannot read the new schema's data): /fields/1/type: "
        "reader type 'int' not compatible with writer type 'string'"
    ]
    assert check(new, [old], "FULL") == backward + forward


def test_int_to_long_is_backward_but_not_forward_compatible():
    old, new = record(AGE), record({"name": "age", "type": "long"})
    assert check(new, [old], "BACKWARD") == []
    assert check(new, [old], "FORWARD")


def test_none_accepts_anything():
    assert check(record(ID, AGE), [record(AGE)], "NONE") == []


def test_transitive_checks_every_version_not_just_the_latest():
    # v1 has no 'age'; v2 adds it with a default; v3 drops the default. v3 reads v2 data but
    # not v1 data (no 'age' there and nothing to fill it with).
    v1, v2, v3 = record(ID), record(ID, AGE_DEFAULT), record(ID, AGE)
    assert check(v3, [v1, v2], "BACKWARD") == []
    messages = check(v3, [v1, v2], "BACKWARD_TRANSITIVE")
    assert len(messages) == 1 and messages[0].startswith("BACKWARD with version 1 ")
    assert "reader field 'age'" in messages[0]
    # The same with the roles swapped for FORWARD: v1 and v2 must read v3's data.
    assert check(v1, [v3, v2], "FORWARD") == []
    assert check(v1, [v3, v2], "FORWARD_TRANSITIVE")
    assert check(v3, [v1, v2], "FULL") == []
    assert check(v3, [v1, v2], "FULL_TRANSITIVE")


def test_unknown_level_raises():
    with pytest.raises(ValueError, match="valid"):
        check(record(ID), [record(ID)], "SIDEWAYS")
    assert compat.normalise_level("full_transitive") == "FULL_TRANSITIVE"


def test_renamed_record_names_the_mismatch():
    messages = check(record(ID, name="Other"), [record(ID)], "BACKWARD")
    assert messages and "/name" in messages[0] and "Person" in messages[0]


def test_parse_keeps_custom_attributes_and_fingerprint_ignores_layout():
    text = (
        '{"type": "record", "name": "P", "fields": [{"name": "id", "type": "string", "pii": true}]}'
    )
    parsed = compat.parse(text)
    assert '"pii":true' in parsed.text
    assert "pii" not in parsed.canonical
    relaid = compat.parse(
        '{"fields":[{"type":"string","pii":true,"name":"id"}],"name":"P","type":"record"}'
    )
    assert relaid.fingerprint == parsed.fingerprint
    assert compat.parse(text.replace("true", "false")).fingerprint != parsed.fingerprint


@pytest.mark.parametrize("bad", ["not json", '{"type": "record"}', '{"type": "nope"}'])
def test_invalid_schema_raises_with_parser_message(bad):
    with pytest.raises(compat.InvalidSchemaError, match="Invalid schema"):
        compat.parse(bad)
