"""The hub API served over real HTTP with a real broker and real databases."""

import httpx
import pytest
from fastapi.testclient import TestClient

from hub_api.auth.service import AuthService
from hub_api.db import Database
from hub_api.main import create_app
from ops.broker import free_port
from ops.settings import HubSettings

pytestmark = pytest.mark.integration


def test_healthz_reports_database_and_broker(live_hub):
    r = httpx.get(f"{live_hub.url}/healthz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["kafka"]["ok"] is True
    assert body["checks"]["database"]["dialect"] in ("sqlite", "postgresql")


def test_docs_list_the_registry_endpoints(live_hub):
    assert httpx.get(f"{live_hub.url}/docs").status_code == 200
    paths = httpx.get(f"{live_hub.url}/openapi.json").json()["paths"]
    for path in ("/registry/subjects", "/registry/subjects/{subject}/versions", "/registry/schemas/ids/{schema_id}",
                 "/registry/config", "/registry/compatibility/subjects/{subject}/versions/{version}",
                 "/oauth/token", "/healthz", "/metrics"):
        assert path in paths, sorted(paths)


def test_metrics_count_requests_by_route_template(live_hub):
    httpx.get(f"{live_hub.url}/registry/subjects")
    httpx.get(f"{live_hub.url}/registry/schemas/ids/987654")
    text = httpx.get(f"{live_hub.url}/metrics").text
    assert 'hub_api_requests_total{method="GET",route="/registry/subjects",status="200"}' in text
    assert 'route="/registry/schemas/ids/{schema_id}"' in text  # templated: no ids in labels
    assert "hub_api_request_duration_seconds_bucket" in text
    assert "process_resident_memory_bytes" in text


def test_unknown_path_is_a_machine_readable_404(live_hub):
    r = httpx.get(f"{live_hub.url}/no/such/thing")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


def test_registry_writes_need_the_scope_reads_do_not(live_hub, writer_client):
    schema = '{"type":"record","name":"Probe","namespace":"gov.zj.supervision.test","fields":[{"name":"a","type":"string"}]}'
    url = f"{live_hub.url}/registry/subjects/probe-value/versions"
    anon = httpx.post(url, json={"schema": schema})
    assert anon.status_code == 401
    assert anon.json()["error_code"] == 401  # Confluent's error shape under /registry
    assert anon.headers["www-authenticate"].startswith("Bearer")

    cid, secret = writer_client
    basic = httpx.post(url, json={"schema": schema}, auth=(cid, secret))
    assert basic.status_code == 200, basic.text
    schema_id = basic.json()["id"]

    token = httpx.post(f"{live_hub.url}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(cid, secret)).json()["access_token"]
    again = httpx.post(url, json={"schema": schema}, headers={"Authorization": f"Bearer {token}"})
    assert again.json()["id"] == schema_id  # same schema, same id
    assert httpx.get(f"{live_hub.url}/registry/schemas/ids/{schema_id}").status_code == 200

    no_scope_id, no_scope_secret = AuthService(live_hub.db, live_hub.settings).create_client("reader", "department", [])
    forbidden = httpx.post(url, json={"schema": schema}, auth=(no_scope_id, no_scope_secret))
    assert forbidden.status_code == 403
    assert forbidden.json()["error_code"] == 403
    assert "schemas:write" in forbidden.json()["message"]


def test_operator_credentials_are_printed_on_first_start_only(sqlite_url, kafka_bootstrap, capfd):
    settings = HubSettings(database_url=sqlite_url, kafka_bootstrap=kafka_bootstrap, environment="test")
    with TestClient(create_app(settings, Database(sqlite_url))):
        pass
    first = capfd.readouterr().err
    assert "client_secret:" in first and "operator" in first
    with TestClient(create_app(settings, Database(sqlite_url))):
        pass
    assert "client_secret:" not in capfd.readouterr().err


def test_healthz_is_503_when_the_broker_is_unreachable(sqlite_url):
    settings = HubSettings(database_url=sqlite_url, kafka_bootstrap=f"127.0.0.1:{free_port()}",
                           environment="test")
    with TestClient(create_app(settings, Database(sqlite_url))) as client:
        r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded"
    assert r.json()["checks"]["kafka"]["ok"] is False
    assert r.json()["checks"]["database"]["ok"] is True
