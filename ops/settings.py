"""Hub settings: one validated model, read from ``HUB_*`` environment variables.

Every component receives a :class:`HubSettings` instance instead of reading the
environment itself, so a test can build one explicitly and ``hub config`` can
print exactly what is in force.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
PSEUDONYM_KEYS = ("HUB_ENTITY_PSEUDONYM_KEY", "HUB_TRIAGE_PSEUDONYM_SECRET")
"""Environment variables keying the pseudonyms of natural persons and complainants (required in production)."""


class HubSettings(BaseSettings):
    """Effective configuration of one hub process tree."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="forbid", env_file=None)

    environment: Literal["development", "test", "production"] = Field(
        "development",
        description="Deployment environment; `production` refuses insecure defaults.",
    )
    kafka_bootstrap: str | None = Field(
        None,
        description="Kafka bootstrap servers (host:port[,host:port]). Unset: start the embedded Tansu broker.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Security protocol for every Kafka client."
    )
    kafka_sasl_mechanism: str | None = Field(None, description="SASL mechanism, e.g. SCRAM-SHA-512.")
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_client_id: str = Field("supervision-hub", description="Client id prefix for Kafka clients.")
    kafka_session_timeout_ms: int = Field(
        6000,
        ge=1000,
        description="Consumer-group session timeout. Tansu's group join takes half of it: keep ~6 s on the embedded broker.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        10, ge=2, description="Fetch wait; ~10 ms keeps loopback latency low (0-1 ms stalls Tansu)."
    )
    producer_transport: Literal["kafka-python", "confluent"] = Field(
        "kafka-python", description="Producer implementation used by everything that writes to Kafka."
    )
    connect_gc_threshold: int = Field(
        10_000, ge=700,
        description="First-generation threshold of the garbage collector in a connect worker (Python's default is 700): "
                    "the runner keeps one or two batches in flight, which the default rescans every ~90 records.",
    )
    broker_port: int | None = Field(
        None, ge=1, le=65535, description="Port for the embedded broker (unset: a free loopback port)."
    )
    topic_replication_factor: int = Field(
        1, ge=1, description="Replication factor for `hub topics apply` (3 on a production cluster)."
    )
    database_url: str = Field(
        "sqlite:///var/hub.db",
        description="SQLAlchemy URL of the hub database (SQLite file by default; postgresql+psycopg://... in production).",
    )
    api_host: str = Field("127.0.0.1", description="Address the API binds to.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port the API listens on.")
    registry_url: str | None = Field(
        None,
        description="Schema registry base URL used by producers (default: this hub's API at /registry).",
    )
    registry_client_id: str | None = Field(
        None, description="API client id used by `hub schemas` and producers to write to the registry."
    )
    registry_client_secret: SecretStr | None = Field(None, description="Secret of `registry_client_id`.")
    registry_register_standard: bool = Field(
        True, description="Register the data standard's schemas in the registry when the API starts."
    )
    registry_default_compatibility: Literal[
        "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"
    ] = Field(
        "BACKWARD_TRANSITIVE", description="Global compatibility level of the schema registry."
    )
    jwt_secret: SecretStr = Field(
        SecretStr(DEV_JWT_SECRET), description="HMAC key that signs access tokens (required in production)."
    )
    connector_secrets_keys: SecretStr | None = Field(
        None,
        description="Comma-separated Fernet keys sealing connector secrets in the database; the first seals, all "
                    "unseal (rotation). Unset: the key file. Every API and connect worker host needs the same keys.",
    )
    connector_secrets_key_path: Path | None = Field(
        None,
        description="File of Fernet keys (one per line, the first seals) used when HUB_CONNECTOR_SECRETS_KEYS is unset "
                    "(unset: <var_dir>/keys/connector-secrets.key, created 0600 on first use).",
    )
    jwt_ttl_seconds: int = Field(3600, ge=60, description="Lifetime of an access token.")
    log_level: str = Field("INFO", description="Root log level.")
    log_json: bool = Field(True, description="Emit structured JSON log lines.")
    processor_port: int = Field(
        8002, ge=1, le=65535, description="Port of `hub process`'s /healthz and /metrics (faust web server)."
    )
    processors: str | None = Field(
        None, description="Comma-separated processor names `hub process` runs (unset: all of them)."
    )
    var_dir: Path = Field(Path("var"), description="Directory for local state (SQLite file, broker logs).")
    federation_hub_id: str = Field(
        "330000", pattern=r"^[0-9A-Za-z_-]{2,32}$",
        description="This hub's id in the federation of provincial hubs (GB/T 2260 province code, e.g. 330000).",
    )
    federation_algorithm: Literal["ed25519", "sm2-sm3"] = Field(
        "ed25519",
        description="Signature algorithm of this hub's federation key; peers register the matching public key (`hub federation key`).",
    )
    federation_key_path: Path | None = Field(
        None,
        description="This hub's federation private key: Ed25519 PKCS#8 PEM, or for sm2-sm3 the 64 hex digits of the SM2 key "
                    "(unset: <var_dir>/keys/federation-ed25519.pem or federation-sm2.key, created 0600 on first use).",
    )
    federation_dispatcher: bool = Field(
        True, description="Run the federation outbound dispatcher (retries unacknowledged messages) in the API process."
    )
    federation_retry_base_s: float = Field(
        1.0, gt=0, description="First retry delay of an unacknowledged federation message (doubles per attempt, jittered)."
    )
    federation_retry_cap_s: float = Field(
        60.0, gt=0, description="Longest delay between federation delivery attempts (also the retry interval once unconfirmed)."
    )
    federation_unconfirmed_after: int = Field(
        5, ge=1, description="Failed delivery attempts after which a federation message shows as `unconfirmed`."
    )

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> HubSettings:
        if self.environment == "production" and self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ValueError(
                "HUB_JWT_SECRET must be set to a private random value when HUB_ENVIRONMENT=production"
            )
        if self.environment == "production":
            # Read by the entity registry and triage at import (they need no other setting); an unset
            # key would pseudonymise with a public development value that anyone could reverse by guessing.
            missing = [name for name in PSEUDONYM_KEYS if not os.environ.get(name)]
            if missing:
                raise ValueError(f"{', '.join(missing)} must be set to private random values when HUB_ENVIRONMENT=production")
        if self.kafka_sasl_mechanism and not self.kafka_sasl_username:
            raise ValueError("HUB_KAFKA_SASL_MECHANISM is set but HUB_KAFKA_SASL_USERNAME is not")
        return self

    @property
    def effective_registry_url(self) -> str:
        """The registry URL producers use: explicit setting or this hub's own API."""
        return self.registry_url or f"http://{self.api_host}:{self.api_port}/registry"

    def kafka_client_config(self) -> dict:
        """Connection options shared by kafka-python producers, consumers and admin clients."""
        cfg: dict = {"bootstrap_servers": self.kafka_bootstrap, "security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            cfg["sasl_mechanism"] = self.kafka_sasl_mechanism
            cfg["sasl_plain_username"] = self.kafka_sasl_username
            cfg["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        return cfg

    def masked(self) -> dict:
        """Settings as a JSON-ready dict with every secret replaced by ``********``."""
        out = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            elif name == "database_url" and "@" in str(value):
                # A URL may embed a password: keep scheme/host, hide the credentials.
                scheme, _, rest = str(value).partition("://")
                value = f"{scheme}://********@{rest.split('@', 1)[1]}"
            out[name] = value
        return out


@lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    """Process-wide settings read once from the environment."""
    return HubSettings()
