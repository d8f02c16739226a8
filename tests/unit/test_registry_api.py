"""The registry REST API through FastAPI's TestClient on a SQLite file: flows and error codes."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from hub_api.db import Database
from hub_api.registry.routes import MEDIA_TYPE, build_router, install_error_handlers
from ops.settings import HubSettings


def noop() -> None:
    """Write guard that lets everything through."""


def make_app(url: str, write_dependency=noop) -> FastAPI:
    app = FastAPI()
    app.include_router(build_router(write_dependency), prefix="/registry")
    install_error_handlers(app)
    app.state.db = Database(url)
    app.state.db.create_schema()
    app.state.settings = HubSettings(environment="test", database_url=url)
    return app


@pytest.fixture
def client(sqlite_url):
    app = make_app(sqlite_url)
    with TestClient(app) as c:
        yield c
    app.state.db.dispose()


def avsc(*fields: dict, name: str = "Person") -> str:
    return json.dumps({"type": "record", "name": name, "fields": list(fields)})


V1 = avsc({"name": "id", "type": "string", "pii": True})
V2 = avsc(
    {"name": "id", "type": "string", "pii": True}, {"name": "age", "type": "int", "default": 0}
)
NO_DEFAULT = avsc({"name": "id", "type": "string"}, {"name": "email", "type": "string"})


def register(client, subject: str, schema: str, **extra) -> int:
    r = client.post(f"/registry/subjects/{subject}/versions", json={"schema": schema, **extra})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def assert_error(r, status: int, code: int, text: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code, body
    assert r.headers["content-type"].startswith(MEDIA_TYPE)
    if text:
        assert text in body["message"], body


def test_register_is_idempotent_and_ids_are_global(client):
    first = register(client, "a-value", V1)
    assert register(client, "a-value", V1) == first
    assert client.get("/registry/subjects/a-value/versions").json() == [1]
    assert register(client, "b-value", V1) == first  # same schema, another subject: same id
    assert client.get("/registry/subjects/b-value/versions/latest").json()["version"] == 1
    second = register(client, "a-value", V2)
    assert second != first
    assert client.get("/registry/subjects/a-value/versions").json() == [1, 2]
    assert client.get("/registry/subjects").json() == ["a-value", "b-value"]


def test_vendor_content_type_in_and_out(client):
    r = client.post(
        "/registry/subjects/c/versions",
        content=json.dumps({"schema": V1, "schemaType": "AVRO", "references": []}),
        headers={"Content-Type": MEDIA_TYPE},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith(MEDIA_TYPE)


def test_reads_by_id_and_version(client):
    sid = register(client, "p", V1)
    body = client.get(f"/registry/schemas/ids/{sid}").json()
    assert json.loads(body["schema"])["fields"][0]["pii"] is True  # custom attribute kept
    assert client.get(f"/registry/schemas/ids/{sid}?subject=p").status_code == 200
    assert client.get(f"/registry/schemas/ids/{sid}/schema").json()["name"] == "Person"
    assert client.get(f"/registry/schemas/ids/{sid}/versions").json() == [
        {"subject": "p", "version": 1}
    ]
    assert client.get(f"/registry/schemas/ids/{sid}/subjects").json() == ["p"]
    assert client.get("/registry/schemas/types").json() == ["AVRO"]
    v = client.get("/registry/subjects/p/versions/1").json()
    assert v == {"subject": "p", "version": 1, "id": sid, "schema": body["schema"]}
    assert client.get("/registry/subjects/p/versions/latest/schema").json()["type"] == "record"
    assert client.get("/registry/subjects/p/versions/1/referencedby").json() == []
    assert client.get("/registry/mode").json() == {"mode": "READWRITE"}


def test_lookup(client):
    sid = register(client, "p", V1)
    # Whitespace and key order do not matter.
    relaid = json.dumps(json.loads(V1), indent=2, sort_keys=True)
    r = client.post("/registry/subjects/p", json={"schema": relaid})
    assert r.status_code == 200 and r.json()["id"] == sid and r.json()["version"] == 1
    assert_error(
        client.post("/registry/subjects/p", json={"schema": V2}), 404, 40403, "Schema not found"
    )
    assert_error(
        client.post("/registry/subjects/q", json={"schema": V1}),
        404,
        40401,
        "Subject 'q' not found.",
    )


def test_incompatible_register_is_409_naming_the_field(client):
    register(client, "p", avsc({"name": "id", "type": "string"}))
    r = client.post("/registry/subjects/p/versions", json={"schema": NO_DEFAULT})
    assert_error(r, 409, 409, "reader field 'email' has no default value")
    assert "/fields/1" in r.json()["message"] and "BACKWARD_TRANSITIVE" in r.json()["message"]


def test_compatibility_endpoints(client):
    register(client, "p", avsc({"name": "id", "type": "string"}))
    url = "/registry/compatibility/subjects/p/versions"
    assert client.post(f"{url}/latest", json={"schema": V2}).json() == {"is_compatible": True}
    r = client.post(f"{url}/1?verbose=true", json={"schema": NO_DEFAULT}).json()
    assert r["is_compatible"] is False and "email" in r["messages"][0]
    assert client.post(f"{url}?verbose=True", json={"schema": V2}).json() == {
        "is_compatible": True,
        "messages": [],
    }
    assert client.post("/registry/compatibility/subjects/new/versions", json={"schema": V1}).json()[
        "is_compatible"
    ]
    assert_error(client.post(f"{url}/7", json={"schema": V2}), 404, 40402, "Version 7 not found.")
    assert_error(
        client.post("/registry/compatibility/subjects/zz/versions/1", json={"schema": V2}),
        404,
        40401,
    )


def test_config(client):
    assert client.get("/registry/config").json() == {"compatibilityLevel": "BACKWARD_TRANSITIVE"}
    assert client.put("/registry/config", json={"compatibility": "full"}).json() == {
        "compatibility": "FULL"
    }
    assert client.get("/registry/config").json() == {"compatibilityLevel": "FULL"}
    assert_error(client.get("/registry/config/p"), 404, 40408, "subject-level compatibility")
    assert client.get("/registry/config/p?defaultToGlobal=true").json() == {
        "compatibilityLevel": "FULL"
    }
    assert client.put("/registry/config/p", json={"compatibility": "NONE"}).json() == {
        "compatibility": "NONE"
    }
    assert client.get("/registry/config/p").json() == {"compatibilityLevel": "NONE"}
    # NONE on the subject lets an incompatible schema in.
    register(client, "p", avsc({"name": "id", "type": "string"}))
    register(client, "p", NO_DEFAULT)
    assert client.delete("/registry/config/p").json() == {"compatibilityLevel": "NONE"}
    assert_error(client.delete("/registry/config/p"), 404, 40408)
    assert client.delete("/registry/config").json() == {"compatibilityLevel": "FULL"}
    assert client.get("/registry/config").json() == {"compatibilityLevel": "BACKWARD_TRANSITIVE"}
    assert_error(client.put("/registry/config", json={"compatibility": "SIDEWAYS"}), 422, 42203)
    assert_error(client.put("/registry/config/p", json={}), 422, 42203)


def test_delete_flows_and_codes(client):
    register(client, "p", V1)
    register(client, "p", V2)
    assert_error(client.delete("/registry/subjects/p/versions/1?permanent=true"), 404, 40407)
    assert client.delete("/registry/subjects/p/versions/1").json() == 1
    assert_error(
        client.delete("/registry/subjects/p/versions/1"), 404, 40406, "Version 1 was soft deleted"
    )
    assert client.get("/registry/subjects/p/versions").json() == [2]
    assert client.get("/registry/subjects/p/versions?deleted=true").json() == [1, 2]
    assert_error(client.get("/registry/subjects/p/versions/1"), 404, 40402)
    assert client.get("/registry/subjects/p/versions/1?deleted=true").json()["version"] == 1
    assert client.delete("/registry/subjects/p/versions/1?permanent=true").json() == 1
    assert client.get("/registry/subjects/p/versions?deleted=true").json() == [2]

    assert_error(
        client.delete("/registry/subjects/p?permanent=true"), 404, 40405, "was not deleted first"
    )
    assert client.delete("/registry/subjects/p").json() == [2]
    assert_error(client.delete("/registry/subjects/p"), 404, 40404, "was soft deleted")
    assert client.get("/registry/subjects").json() == []
    assert client.get("/registry/subjects?deleted=true").json() == ["p"]
    assert_error(client.get("/registry/subjects/p/versions"), 404, 40401)
    assert client.delete("/registry/subjects/p?permanent=true").json() == [2]
    assert_error(client.delete("/registry/subjects/p?permanent=true"), 404, 40401)
    assert client.get("/registry/subjects?deleted=true").json() == []


def test_schema_ids_survive_deletes_and_versions_continue(client):
    sid = register(client, "p", V1)
    client.delete("/registry/subjects/p")
    assert client.get(f"/registry/schemas/ids/{sid}").status_code == 200
    assert client.get(f"/registry/schemas/ids/{sid}/versions").json() == []
    assert register(client, "p", V1) == sid
    assert client.get("/registry/subjects/p/versions").json() == [2]


def test_not_found_and_invalid_codes(client):
    assert_error(client.get("/registry/schemas/ids/99"), 404, 40403, "Schema 99 not found")
    assert_error(client.get("/registry/subjects/x/versions"), 404, 40401, "Subject 'x' not found.")
    register(client, "x", V1)
    assert_error(client.get("/registry/subjects/x/versions/5"), 404, 40402, "Version 5 not found.")
    assert_error(client.get("/registry/subjects/x/versions/0"), 422, 42202, "not a valid version")
    assert_error(client.get("/registry/subjects/x/versions/abc"), 422, 42202)
    assert_error(client.delete("/registry/subjects/x/versions/abc"), 422, 42202)
    bad = client.post("/registry/subjects/x/versions", json={"schema": '{"type": "record"}'})
    assert_error(bad, 422, 42201, "Invalid schema")
    assert_error(client.post("/registry/subjects/x/versions", json={"schema": "{"}), 422, 42201)
    proto = client.post(
        "/registry/subjects/x/versions",
        json={"schema": "syntax = 'proto3';", "schemaType": "PROTOBUF"},
    )
    assert_error(proto, 422, 42201, "PROTOBUF")
    refs = [{"name": "n", "subject": "s", "version": 1}]
    assert_error(
        client.post("/registry/subjects/x/versions", json={"schema": V1, "references": refs}),
        422,
        42201,
    )


def test_fastapi_validation_and_routing_errors_use_the_confluent_shape(client):
    assert_error(client.post("/registry/subjects/x/versions", json={}), 422, 42201, "schema")
    assert_error(client.get("/registry/schemas/ids/notanumber"), 422, 422)
    r = client.post(
        "/registry/subjects/x/versions",
        content="{oops",
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 400, 400)
    assert_error(client.get("/registry/no/such/path"), 404, 404)
    assert_error(client.patch("/registry/config"), 405, 405)


def test_write_dependency_guards_writes_only(sqlite_url):
    def deny() -> None:
        raise HTTPException(401, "Unauthorized", headers={"WWW-Authenticate": "Basic"})

    app = make_app(sqlite_url, deny)
    with TestClient(app) as c:
        writes = [
            c.post("/registry/subjects/p/versions", json={"schema": V1}),
            c.put("/registry/config", json={"compatibility": "NONE"}),
            c.put("/registry/config/p", json={"compatibility": "NONE"}),
            c.delete("/registry/config"),
            c.delete("/registry/config/p"),
            c.delete("/registry/subjects/p"),
            c.delete("/registry/subjects/p/versions/1"),
        ]
        for r in writes:
            assert_error(r, 401, 401, "Unauthorized")
            assert r.headers["www-authenticate"] == "Basic"
        assert c.get("/registry/subjects").json() == []
        assert c.get("/registry/config").status_code == 200
        assert_error(c.post("/registry/subjects/p", json={"schema": V1}), 404, 40401)
        ok = c.post("/registry/compatibility/subjects/p/versions", json={"schema": V1})
        assert ok.status_code == 200
    app.state.db.dispose()
