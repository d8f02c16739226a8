"""Declarative connector configs through ``validate_config``: examples, per-field errors, secrets; task offsets."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
import pytest

from connectors.config import validate_config
from connectors.declarative.decoders import decode_csv, decode_xml
from connectors.declarative.file_drop import FileDropTask
from connectors.declarative.http_pull import HttpPullTask
from connectors.declarative.push_api import _check_signature, sign
from connectors.runtime.pipeline import RecordRejected, decode

EXAMPLES = Path(__file__).resolve().parents[3] / "connectors" / "declarative" / "examples"
NAMES = sorted(p.name for p in EXAMPLES.glob("*.json"))
SECRETS = {"http_pull_cursor_bearer.json": "ps-sim-token", "http_push_hmac.json": "change-me-transport",
           "sql_poll_updated_at.json": "hb_reader:secret", "sql_poll_upload_table.json": "yjj_reader:secret"}


def load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def test_one_example_per_shape():
    assert {load(n)["plugin"] for n in NAMES} == {"http-pull", "http-push", "sql-poll", "file-drop"}
    assert len(NAMES) == 6


@pytest.mark.parametrize("name", NAMES)
def test_examples_validate_and_hide_secrets(name):
    connector, plugin_config, errors = validate_config(load(name))
    assert errors == [] and plugin_config is not None
    dumped = json.dumps(plugin_config.model_dump(mode="json"), ensure_ascii=False)
    if name in SECRETS:
        assert SECRETS[name] not in dumped and "**********" in dumped
    schema = json.dumps(type(plugin_config).model_json_schema())
    assert '"description"' in schema


def _errors(raw: dict) -> dict[str, str]:
    _, _, errors = validate_config(raw)
    return {e["field"]: e["message"] for e in errors}


def test_per_field_errors():
    raw = load("http_pull_cursor_bearer.json")
    raw["config"]["url"] = "ftp://x"
    raw["config"]["paging"]["type"] = "offset"
    raw["config"]["bogus"] = 1
    fields = _errors(raw)
    assert "config.url" in fields and "config.bogus" in fields
    assert any(f.startswith("config.paging") for f in fields)

    raw = load("sql_poll_updated_at.json")
    raw["config"]["table"] = "x; drop table y"
    del raw["config"]["mode"]["type"]
    fields = _errors(raw)
    assert "config.table" in fields and any(f.startswith("config.mode") for f in fields)

    raw = load("http_push_hmac.json")
    raw["config"]["hmac_secret"] = "short"
    assert "config.hmac_secret" in _errors(raw)

    raw = load("file_drop_csv_gb18030.json")
    raw["config"]["mapping"]["fields"]["nope.field"] = {"source": "x"}
    fields = _errors(raw)
    assert list(fields) == ["config.mapping"] and "nope.field" in fields["config.mapping"]

    raw = load("file_drop_xml.json")
    raw["config"]["format"] = {"type": "xml"}
    assert "config.format.xml.record_path" in _errors(raw)


# -- http-pull offsets (MockTransport: the paging logic, not the network) -----------------------

def _pull(paging: dict, handler) -> HttpPullTask:
    raw = load("http_pull_cursor_bearer.json")
    raw["config"]["paging"] = paging
    _, config, errors = validate_config(raw)
    assert errors == []
    return HttpPullTask(config, transport=httpx.MockTransport(handler))


ITEMS = [{"ajbh": f"A{i}", "updated_seq": 1} for i in range(7)]


def test_cursor_offsets_resume_after_each_record_without_rereading():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer ps-sim-token"
        start = int(request.url.params.get("cursor", "0"))
        limit = int(request.url.params["limit"])
        return httpx.Response(200, json={"items": ITEMS[start:start + limit], "next_cursor": str(min(start + limit, 7))})

    task = _pull({"type": "cursor", "size": 3}, handler)
    task.open({})
    first = task.poll(2)
    assert [r.key for r in first] == ["A0", "A1"]
    assert [json.loads(r.offset) for r in first] == [{"cursor": None, "skip": 1}, {"cursor": None, "skip": 2}]
    rest = task.poll(10)
    assert json.loads(rest[-1].offset) == {"cursor": "3", "skip": 0}
    task.close()
    task.open({"default": first[-1].offset})  # resume after A1: A2 next, nothing skipped or repeated
    keys = [r.key for r in task.poll(10)] + [r.key for r in task.poll(10)] + [r.key for r in task.poll(10)]
    assert keys == ["A2", "A3", "A4", "A5", "A6"] and task.poll(10) == []


def test_page_paging_rereads_a_short_page_for_new_rows():
    rows = list(ITEMS[:5])

    def handler(request: httpx.Request) -> httpx.Response:
        page, size = int(request.url.params["page"]), int(request.url.params["size"])
        return httpx.Response(200, json={"items": rows[(page - 1) * size: page * size]})

    task = _pull({"type": "page", "size": 3}, handler)
    task.open({})
    got = [r.key for r in task.poll(10)] + [r.key for r in task.poll(10)]
    assert got == ["A0", "A1", "A2", "A3", "A4"] and task.poll(10) == []
    rows.extend(ITEMS[5:])
    assert [r.key for r in task.poll(10)] == ["A5"]
    assert [r.key for r in task.poll(10)] == ["A6"]


@pytest.mark.parametrize("status", [401, 403])
def test_auth_refusal_is_a_config_error(status):
    from connectors.declarative.common import SourceConfigError

    task = _pull({"type": "cursor"}, lambda request: httpx.Response(status))
    task.open({})
    with pytest.raises(SourceConfigError, match=str(status)):
        task.poll(1)


def test_server_errors_raise_for_the_runner_to_retry():
    task = _pull({"type": "cursor"}, lambda request: httpx.Response(503))
    task.open({})
    with pytest.raises(httpx.HTTPStatusError):
        task.poll(1)


def test_api_key_auth_is_a_secret_header():
    raw = load("http_pull_cursor_bearer.json")
    raw["config"]["auth"] = {"type": "api_key", "header": "X-Api-Key", "key": "12345-sim-key"}
    _, config, errors = validate_config(raw)
    assert errors == [] and "12345-sim-key" not in config.model_dump_json()

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-api-key"] == "12345-sim-key" and "authorization" not in request.headers
        return httpx.Response(200, json={"items": ITEMS[:2], "next_cursor": "2"})

    task = HttpPullTask(config, transport=httpx.MockTransport(handler))
    task.open({})
    assert [r.key for r in task.poll(10)] == ["A0", "A1"]


# -- push signature, decoders, file-drop ----------------------------------------------------------

def test_signature_window_and_mismatch():
    from pydantic import SecretStr

    secret, body = SecretStr("s" * 20), b'{"a":1}'
    good = {"x-hub-timestamp": "1000", "x-hub-signature": sign("s" * 20, "1000", body)}
    assert _check_signature(secret, good, body, now=1100) is None
    assert "window" in _check_signature(secret, good, body, now=1400)
    assert _check_signature(secret, good, body + b" ", now=1000) == "signature does not match"
    assert "required" in _check_signature(secret, {}, body, now=1000)


def test_xml_decoder_refuses_entities_and_maps_elements():
    assert decode_xml('<Case id="7"><a>1</a><b><c>x</c></b><d>1</d><d>2</d></Case>') == {
        "@id": "7", "a": "1", "b": {"c": "x"}, "d": ["1", "2"]}
    with pytest.raises(RecordRejected) as err:
        decode_xml('<!DOCTYPE x [<!ENTITY e "boom">]><Case>&e;</Case>')
    assert err.value.reason == "xml" and "boom" not in err.value.message
    assert decode_csv('a,"b,c",d\r\n') == ["a", "b,c", "d"]


def test_file_drop_csv_lines_keep_original_bytes_and_archive(tmp_path):
    raw = copy.deepcopy(load("file_drop_csv_gb18030.json"))
    raw["config"].update(directory=str(tmp_path), settle_seconds=0)
    _, config, errors = validate_config(raw)
    assert errors == []
    bad = "李四".encode("gb18030") + b"\xff"
    data = b"ajbh,bbh,dsrmc\r\n" + "A1,1,张三\r\n".encode("gb18030") + b"A2,1," + bad + '\r\nA3,2,"多\n行"\r\n'.encode("gb18030")
    (tmp_path / "a.csv").write_bytes(data)
    (tmp_path / "b.csv.tmp").write_bytes(b"x")
    task = FileDropTask(config)
    task.open({})
    records = task.poll(10)
    assert [(r.key, r.version) for r in records] == [("A1", "1"), ("A2", "1"), ("A3", "2")]
    assert records[1].payload == b"A2,1," + bad and records[1].encoding == "gb18030"
    with pytest.raises(RecordRejected) as err:
        decode(records[1])
    assert err.value.reason == "encoding"
    assert [json.loads(r.offset)["line"] for r in records] == [2, 3, 5]
    assert task.poll(10) == [] and (tmp_path / "archive" / "a.csv").is_file()
    task.close()
    (tmp_path / "c.csv").write_bytes(data)
    task.open({"files": json.dumps({"file": "c.csv", "line": 3})})
    assert [r.key for r in task.poll(10)] == ["A3"]
