"""Wire-format unit tests; the registry is a fake because the broker and HTTP are not the point."""

import json
import struct

import pytest

from topics.serde import AvroDeserializer, AvroSerializer, SerializationError, schema_id_of

SCHEMA_V1 = json.dumps({
    "type": "record", "name": "Sample", "namespace": "gov.zj.supervision.test",
    "fields": [{"name": "uscc", "type": "string"}, {"name": "amount", "type": "long"},
               {"name": "party", "type": "string"}],
})
SCHEMA_V2 = json.dumps({
    "type": "record", "name": "Sample", "namespace": "gov.zj.supervision.test",
    "fields": [{"name": "uscc", "type": "string"}, {"name": "amount", "type": "long"},
               {"name": "party", "type": "string"},
               {"name": "note", "type": ["null", "string"], "default": None}],
})


class FakeRegistry:
    def __init__(self):
        self.schemas: dict[int, str] = {}
        self.calls = 0

    def schema_id(self, subject, schema_str):
        self.calls += 1
        for sid, text in self.schemas.items():
            if text == schema_str:
                return sid
        sid = 100 + len(self.schemas)
        self.schemas[sid] = schema_str
        return sid

    def get_schema(self, schema_id):
        self.calls += 1
        return self.schemas[schema_id]


def test_frames_with_magic_byte_and_big_endian_schema_id():
    reg = FakeRegistry()
    data = AvroSerializer(reg, "t-value", SCHEMA_V1)({"uscc": "91330100MA2X", "amount": 5, "party": "张三"})
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == 100
    assert schema_id_of(data) == 100


def test_round_trip_with_chinese_text_and_schema_ids_cached():
    reg = FakeRegistry()
    ser, de = AvroSerializer(reg, "t-value", SCHEMA_V1), AvroDeserializer(reg)
    records = [{"uscc": f"9133{i:014d}", "amount": i, "party": "杭州某某餐饮有限公司"} for i in range(50)]
    assert [de(ser(r)) for r in records] == records
    assert reg.calls == 2  # one register, one fetch, however many records


def test_reader_schema_resolves_an_older_writer():
    reg = FakeRegistry()
    old = AvroSerializer(reg, "t-value", SCHEMA_V1)({"uscc": "x", "amount": 1, "party": "p"})
    assert AvroDeserializer(reg, reader_schema=SCHEMA_V2)(old) == {"uscc": "x", "amount": 1, "party": "p", "note": None}


def test_a_record_that_does_not_match_is_refused_without_echoing_values():
    ser = AvroSerializer(FakeRegistry(), "t-value", SCHEMA_V1)
    with pytest.raises(SerializationError) as err:
        ser({"uscc": "x", "amount": "330102199001011234", "party": "p"})
    assert err.value.reason == "schema"
    assert "330102199001011234" not in str(err.value)


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"\x01\x00\x00\x00\x01abc", b'{"json": true}'])
def test_unframed_bytes_are_a_framing_error(data):
    with pytest.raises(SerializationError) as err:
        AvroDeserializer(FakeRegistry())(data)
    assert err.value.reason == "framing"


def test_unknown_schema_id_is_reported_as_such():
    with pytest.raises(SerializationError) as err:
        AvroDeserializer(FakeRegistry())(b"\x00\x00\x00\x03\xe7abc")
    assert err.value.reason == "unknown_schema_id"


def test_truncated_payload_is_a_decode_error():
    reg = FakeRegistry()
    data = AvroSerializer(reg, "t-value", SCHEMA_V1)({"uscc": "abc", "amount": 1, "party": "p"})
    with pytest.raises(SerializationError) as err:
        AvroDeserializer(reg)(data[:7])
    assert err.value.reason == "decode"
