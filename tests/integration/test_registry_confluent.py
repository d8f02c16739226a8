"""The registry served by a real uvicorn server, driven by confluent-kafka's unmodified
SchemaRegistryClient and by the hub's own RegistryClient, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
)
from fastapi import FastAPI

from hub_api.db import Database
from hub_api.registry.client import RegistryClient, RegistryError
from hub_api.registry.routes import build_router, install_error_handlers
from ops.settings import HubSettings
from ops.threaded_server import ThreadedServer

pytestmark = pytest.mark.integration




@pytest.fixture
def registry_url(database_url):
    """Base URL of a registry on a fresh database, served by uvicorn in a background thread."""
    app = FastAPI()
    app.include_router(build_router(lambda: None), prefix="/registry")
    install_error_handlers(app)
    app.state.db = Database(database_url)
    app.state.db.create_schema()
    app.state.settings = HubSettings(environment="test", database_url=database_url)
    with ThreadedServer(app) as server:
        yield f"{server.url}/registry"
    app.state.db.dispose()


def avro(*fields: dict) -> Schema:
    text = json.dumps(
        {"type": "record", "name": "Inspection", "namespace": "hub", "fields": list(fields)}
    )
    return Schema(text, "AVRO")


ID = {"name": "id", "type": "string"}
ORG = {"name": "org_name", "type": "string", "pii": True}
SCORE = {"name": "score", "type": "int", "default": 0}


def test_confluent_client_round_trip(registry_url):
    sr = SchemaRegistryClient({"url": registry_url})
    subject = "inspection-value"

    v1_id = sr.register_schema(subject, avro(ID, ORG))
    assert sr.register_schema(subject, avro(ID, ORG)) == v1_id
    fetched = sr.get_schema(v1_id)
    assert json.loads(fetched.schema_str)["fields"][1]["pii"] is True
    v2_id = sr.register_schema(subject, avro(ID, ORG, SCORE))
    assert v2_id != v1_id

    latest = sr.get_latest_version(subject)
    assert (latest.schema_id, latest.version, latest.subject) == (v2_id, 2, subject)
    assert sr.get_version(subject, 1).schema_id == v1_id
    assert sr.get_versions(subject) == [1, 2]
    assert sr.get_subjects() == [subject]
    assert sr.get_schema_types() == ["AVRO"]
    assert [(v.subject, v.version) for v in sr.get_schema_versions(v1_id)] == [(subject, 1)]

    found = sr.lookup_schema(subject, avro(ID, ORG))
    assert (found.schema_id, found.version) == (v1_id, 1)

    assert sr.get_compatibility() == "BACKWARD_TRANSITIVE"
    assert sr.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert sr.get_compatibility(subject) == "FULL"
    assert sr.set_compatibility(level="BACKWARD") == {"compatibility": "BACKWARD"}
    assert sr.get_compatibility() == "BACKWARD"

    no_default = avro(ID, ORG, SCORE, {"name": "inspector", "type": "string"})
    assert sr.test_compatibility(subject, avro(ID, ORG, SCORE)) is True
    assert sr.test_compatibility(subject, no_default) is False
    assert sr.test_compatibility(subject, no_default, version=1, verbose=True) is False
    with pytest.raises(SchemaRegistryError) as err:
        sr.register_schema(subject, no_default)
    assert err.value.http_status_code == 409 and err.value.error_code == 409
    assert "inspector" in err.value.error_message

    with pytest.raises(SchemaRegistryError) as err:
        sr.lookup_schema("missing-value", avro(ID))
    assert (err.value.http_status_code, err.value.error_code) == (404, 40401)

    assert sr.delete_version(subject, 1) == 1
    assert sr.get_versions(subject) == [2]
    assert sr.delete_version(subject, 1, permanent=True) == 1
    assert sr.delete_subject(subject) == [2]
    assert sr.get_subjects() == []
    assert sr.delete_subject(subject, permanent=True) == [2]
    with pytest.raises(SchemaRegistryError) as err:
        sr.get_versions(subject)
    assert (err.value.http_status_code, err.value.error_code) == (404, 40401)
    # Ids stay readable after the subject is gone, so old records still decode.
    assert SchemaRegistryClient({"url": registry_url}).get_schema(v2_id).schema_str


def test_hub_client_against_the_server(registry_url):
    with RegistryClient(registry_url) as rc:
        sid = rc.register("alerts-value", avro(ID).schema_str)
        assert json.loads(rc.get_schema(sid))["name"] == "Inspection"
        assert rc.latest("alerts-value") == (sid, 1, rc.get_schema(sid))
        assert rc.check_compatible("alerts-value", avro(ID, SCORE).schema_str) == (True, [])
        ok, messages = rc.check_compatible("alerts-value", avro(ID, ORG).schema_str)
        assert not ok and "org_name" in messages[0] and "/fields/1" in messages[0]
        with pytest.raises(RegistryError) as err:
            rc.register("alerts-value", avro(ID, ORG).schema_str)
        assert (err.value.status, err.value.error_code) == (409, 409)
        with pytest.raises(RegistryError) as err:
            rc.get_schema(9999)
        assert (err.value.status, err.value.error_code) == (404, 40403)
    with (
        pytest.raises(RegistryError) as err,
        RegistryClient("http://127.0.0.1:9", timeout=0.5) as dead,
    ):
        dead.get_schema(1)
    assert err.value.status == 0
