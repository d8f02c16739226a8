"""Connector secrets sealed at rest: the box, and the store that uses it (SQLite)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel, ConfigDict, SecretStr
from sqlalchemy import select

from connectors.config import ConnectorConfig
from connectors.runtime.plugin import Plugin
from connectors.secret_box import SecretBox, SecretsUnavailable, is_sealed
from connectors.store import ConnectorRow, ConnectorStore
from ops.settings import HubSettings


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str
    password: SecretStr


class Conf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    token: SecretStr | None = None
    auth: Auth | None = None
    headers: dict[str, SecretStr] = {}


PLUGINS = {"vault-test": Plugin(name="vault-test", kind="source", config_model=Conf, build=lambda *_: None,
                                description="test")}


def cfg(**config) -> ConnectorConfig:
    return ConnectorConfig(name="c1", plugin="vault-test", source_system="sys", config=config)


SECRET = {"url": "https://x.example", "token": "s3cret-token", "auth": {"user": "u", "password": "p4ss-词"},
          "headers": {"X-Api-Key": "k3y"}}


def raw_row(db) -> dict:
    with db.session() as s:
        return s.scalar(select(ConnectorRow.config).where(ConnectorRow.name == "c1"))


def test_box_round_trips_any_json_value_and_refuses_a_foreign_token():
    box = SecretBox.generate()
    for value in ("s3cret", "密码", {"a": [1, None]}, 42):
        sealed = box.seal(value)
        assert is_sealed(sealed) and box.unseal(sealed) == value
    assert box.unseal("legacy plaintext") == "legacy plaintext"
    with pytest.raises(SecretsUnavailable, match="HUB_CONNECTOR_SECRETS_KEYS") as exc:
        SecretBox.generate().unseal(box.seal("s3cret"))
    assert "s3cret" not in str(exc.value)


def test_only_secret_positions_are_sealed():
    box = SecretBox.generate()
    sealed = box.seal_config(SECRET, Conf)
    assert sealed["url"] == SECRET["url"] and sealed["auth"]["user"] == "u"
    assert all(is_sealed(v) for v in (sealed["token"], sealed["auth"]["password"], sealed["headers"]["X-Api-Key"]))
    assert box.seal_config(sealed, Conf) == sealed  # sealing twice keeps the sealed values
    assert box.unseal_config(sealed, Conf) == SECRET


def test_store_writes_sealed_reads_opened_and_keeps_the_generation_for_the_same_config(db):
    store = ConnectorStore(db, box=SecretBox.generate(), plugins=PLUGINS)
    record = store.create(cfg(**SECRET))
    assert record.config["config"] == SECRET and record.secrets_error is None
    text = json.dumps(raw_row(db), ensure_ascii=False)
    for secret in ("s3cret-token", "p4ss-词", "k3y"):
        assert secret not in text
    assert store.get("c1").connector_config.config == SECRET
    # The same config again: sealed texts differ (random IV) but nothing changed -> no restart.
    assert store.update_config(cfg(**SECRET)).generation == 1
    assert store.update_config(cfg(**{**SECRET, "token": "n3w"})).generation == 2
    assert store.get("c1").config["config"]["token"] == "n3w"


def test_a_record_no_key_opens_says_why_and_a_put_with_the_secrets_recovers_it(db):
    ConnectorStore(db, box=SecretBox.generate(), plugins=PLUGINS).create(cfg(**SECRET))
    other = ConnectorStore(db, box=SecretBox.generate(), plugins=PLUGINS)
    record = other.get("c1")
    assert record.secrets_error and "PUT the config" in record.secrets_error
    assert is_sealed(record.config["config"]["token"])  # handed back sealed, never as garbage plaintext
    with pytest.raises(SecretsUnavailable):
        _ = record.connector_config
    assert other.list()[0].secrets_error  # a listing still works
    assert ConnectorStore(db, box=None, plugins=PLUGINS).get("c1").secrets_error.startswith("this process has no key")
    assert other.update_config(cfg(**SECRET)).generation == 2
    assert other.get("c1").connector_config.config == SECRET


def test_reseal_seals_legacy_plaintext_and_rotates_to_the_first_key_without_a_restart(db):
    ConnectorStore(db, box=None, plugins=PLUGINS).create(cfg(**SECRET))  # as an older hub stored it
    assert raw_row(db)["config"]["token"] == "s3cret-token"
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    store = ConnectorStore(db, box=SecretBox([old_key]), plugins=PLUGINS)
    assert store.reseal() == {"resealed": 1, "current": 0, "unreadable": 0}
    assert is_sealed(raw_row(db)["config"]["token"])
    assert store.reseal() == {"resealed": 0, "current": 1, "unreadable": 0}
    rotated = ConnectorStore(db, box=SecretBox([new_key, old_key]), plugins=PLUGINS)
    assert rotated.reseal() == {"resealed": 1, "current": 0, "unreadable": 0}
    only_new = ConnectorStore(db, box=SecretBox([new_key]), plugins=PLUGINS)
    assert only_new.get("c1").connector_config.config == SECRET  # the old key is no longer needed
    assert only_new.get("c1").generation == 1
    assert ConnectorStore(db, box=SecretBox.generate(), plugins=PLUGINS).reseal()["unreadable"] == 1


def test_keys_from_settings_file_created_private_and_env_keys_validated(tmp_path):
    settings = HubSettings(var_dir=tmp_path / "var", environment="test")
    box = SecretBox.from_settings(settings)
    path = SecretBox.key_path(settings)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    sealed = box.seal("s3cret")
    assert SecretBox.from_settings(settings).unseal(sealed) == "s3cret"  # the same file, the same key
    key = Fernet.generate_key().decode()
    from_env = SecretBox.from_settings(HubSettings(var_dir=tmp_path / "v2", environment="test",
                                                   connector_secrets_keys=f"{key}, {path.read_text().strip()}"))
    assert from_env.unseal(sealed) == "s3cret"  # the second key still opens
    assert not (tmp_path / "v2").exists()  # no key file when the keys come from the environment
    with pytest.raises(ValueError, match="key 1 is not a Fernet key"):
        SecretBox.from_settings(HubSettings(environment="test", connector_secrets_keys="not-a-key"))
