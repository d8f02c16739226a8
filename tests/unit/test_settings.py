import pytest
from pydantic import ValidationError

from ops.settings import HubSettings


def test_defaults_are_the_embedded_laptop_setup(monkeypatch):
    for var in ("HUB_KAFKA_BOOTSTRAP", "HUB_DATABASE_URL", "HUB_API_PORT"):
        monkeypatch.delenv(var, raising=False)
    s = HubSettings()
    assert s.kafka_bootstrap is None
    assert s.database_url.startswith("sqlite:///var/")
    assert s.api_port == 8000
    assert s.effective_registry_url == "http://127.0.0.1:8000/registry"


def test_environment_variables_use_the_hub_prefix(monkeypatch):
    monkeypatch.setenv("HUB_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("HUB_API_PORT", "9100")
    s = HubSettings()
    assert s.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert s.api_port == 9100


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        HubSettings(kafka_bootstrapp="typo:9092")


def test_production_refuses_the_development_jwt_secret(monkeypatch):
    monkeypatch.setenv("HUB_ENTITY_PSEUDONYM_KEY", "k1")
    monkeypatch.setenv("HUB_TRIAGE_PSEUDONYM_SECRET", "k2")
    with pytest.raises(ValidationError, match="HUB_JWT_SECRET"):
        HubSettings(environment="production")
    assert HubSettings(environment="production", jwt_secret="x" * 40).environment == "production"


def test_masked_hides_every_secret_and_url_credentials():
    s = HubSettings(jwt_secret="top-secret-value", kafka_sasl_mechanism="PLAIN", kafka_sasl_username="u",
                    kafka_sasl_password="pw-123", database_url="postgresql+psycopg://hub:pgpass@db:5432/hub")
    masked = s.masked()
    text = repr(masked)
    for secret in ("top-secret-value", "pw-123", "pgpass"):
        assert secret not in text
    assert masked["jwt_secret"] == "********"
    assert masked["database_url"] == "postgresql+psycopg://********@db:5432/hub"


def test_production_refuses_missing_pseudonym_keys(monkeypatch):
    monkeypatch.delenv("HUB_ENTITY_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("HUB_TRIAGE_PSEUDONYM_SECRET", "k2")
    with pytest.raises(ValueError, match="HUB_ENTITY_PSEUDONYM_KEY"):
        HubSettings(environment="production", jwt_secret="x" * 40)
    monkeypatch.setenv("HUB_ENTITY_PSEUDONYM_KEY", "k1")
    assert HubSettings(environment="production", jwt_secret="x" * 40).environment == "production"
