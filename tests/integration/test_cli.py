"""The `hub` command as a user runs it: real subprocesses, real broker, real registry, real database."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from schemas import loader

pytestmark = pytest.mark.integration


def hub(*args, env=None, cwd=None, check=True):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "ops.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"hub {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_config_prints_effective_settings_with_secrets_masked(tmp_path):
    out = hub("config", "--json", env={"HUB_JWT_SECRET": "s3cret-value-xyz", "HUB_API_PORT": "9123"})
    settings = json.loads(out.stdout)
    assert settings["api_port"] == 9123
    assert settings["jwt_secret"] == "********"
    assert "s3cret-value-xyz" not in out.stdout


def test_invalid_configuration_is_a_clear_usage_error():
    out = hub("config", env={"HUB_API_PORT": "not-a-port"}, check=False)
    assert out.returncode == 2
    assert "api_port" in out.stderr


def test_topics_list_offline_and_apply_against_the_broker(kafka_bootstrap):
    offline = json.loads(hub("topics", "list", "--offline", "--json").stdout)
    assert {"name", "partitions", "cleanup_policy", "value_schema", "owner", "level"} <= set(offline[0])
    applied = json.loads(hub("topics", "apply", "--json", env={"HUB_KAFKA_BOOTSTRAP": kafka_bootstrap}).stdout)
    assert {r["status"] for r in applied} <= {"created", "ok"}
    again = json.loads(hub("topics", "apply", "--json", env={"HUB_KAFKA_BOOTSTRAP": kafka_bootstrap}).stdout)
    assert {r["status"] for r in again} == {"ok"}


def test_clients_create_list_revoke(tmp_path):
    env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}
    created = json.loads(hub("clients", "create", "dept-scjg", "--kind", "department",
                             "--scopes", "risk:feedback", "--json", env=env).stdout)
    assert created["secret"] and created["id"].startswith("dept-")
    listed = json.loads(hub("clients", "list", "--json", env=env).stdout)
    assert any(c["id"] == created["id"] for c in listed)
    assert created["secret"] not in json.dumps(listed)
    hub("clients", "revoke", created["id"], env=env)
    listed = {c["id"]: c for c in json.loads(hub("clients", "list", "--json", env=env).stdout)}
    assert listed[created["id"]]["revoked_at"]
    bad = hub("clients", "create", "x", "--scopes", "no:such", env=env, check=False)
    assert bad.returncode == 2 and "valid" in bad.stderr


def test_schemas_check_passes_on_the_standard_and_fails_on_a_breaking_edit(live_hub, writer_client, tmp_path):
    env = {"HUB_REGISTRY_URL": f"{live_hub.url}/registry"}
    # The API registered the standard at startup: everything is already there.
    current = json.loads(hub("schemas", "check", "--json", env=env).stdout)
    assert current and {r["status"] for r in current} == {"registered"}

    # A breaking edit: change a required field's type in a copy of the standard.
    edited = tmp_path / "avro"
    shutil.copytree(loader.SCHEMA_DIR, edited)
    path = edited / "gov.zj.supervision.penalty.PenaltyCaseEvent.avsc"
    schema = json.loads(path.read_text(encoding="utf-8"))
    field = next(f for f in schema["fields"] if f["name"] == "case_id")
    field["type"] = "long"
    path.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")

    out = hub("schemas", "check", "--dir", str(edited), "--json", env=env, check=False)
    assert out.returncode == 1
    bad = {r["subject"]: r for r in json.loads(out.stdout) if r["status"] == "incompatible"}
    assert "penalty.case.events-value" in bad
    assert any("case_id" in m or "/fields/1" in m for m in bad["penalty.case.events-value"]["messages"])

    # A compatible edit (a new optional field) passes the check.
    field["type"] = "string"
    schema["fields"].append({"name": "remark", "type": ["null", "string"], "default": None,
                             "doc": "备注 / Remark", "level": "L2"})
    path.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    ok = json.loads(hub("schemas", "check", "--dir", str(edited), "--json", env=env).stdout)
    assert {r["status"] for r in ok if r["subject"] == "penalty.case.events-value"} == {"compatible"}

    # Registering needs credentials; with them the compatible edit becomes the new version.
    denied = hub("schemas", "register", "--dir", str(edited), "--json", env=env, check=False)
    assert denied.returncode == 1
    creds = {"HUB_REGISTRY_CLIENT_ID": writer_client[0], "HUB_REGISTRY_CLIENT_SECRET": writer_client[1]}
    hub("schemas", "register", "--dir", str(edited), "--json", env={**env, **creds})
