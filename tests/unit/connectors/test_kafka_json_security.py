"""``kafka-json`` security: TLS and SASL options for a department's own cluster.

The options are checked where they are built and where the consumer receives them (a
recording stand-in for kafka-python's ``KafkaConsumer``, because the embedded Tansu 0.6.0
does not serve TLS: its ``--cert`` and ``--key`` options exclude each other). Validation errors go through the registration path and never echo the password; the
password is masked in API output and restored when a masked config comes back.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.config import validate_config
from connectors.kafka_source import plugin as kafka_json
from connectors.kafka_source.plugin import KafkaJsonConfig, KafkaJsonTask, KafkaSecurity
from hub_api.connectors.secrets import MASK, mask, restore

ENFORCEMENT = Path(__file__).resolve().parents[3] / "connectors" / "systems" / "enforcement.json"
PASSWORD = "s3cret-Pa55word"


def ca_pem(common_name: str = "hub-test-ca") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def enforcement_config(**security) -> dict:
    raw = json.loads(ENFORCEMENT.read_text(encoding="utf-8"))
    if security:
        raw["config"]["security"] = security
    return raw


def test_plaintext_is_the_default():
    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}
    _connector, config, errors = validate_config(enforcement_config())
    assert not errors and config.security.protocol == "PLAINTEXT"


def test_sasl_ssl_with_scram_and_a_private_ca():
    pem = ca_pem()
    security = KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", username="hub", password=PASSWORD,
                             ca_pem=pem)
    options = security.client_options()
    assert {k: v for k, v in options.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "hub",
        "sasl_plain_password": PASSWORD}
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    subjects = [dict(part[0] for part in cert["subject"]) for cert in context.get_ca_certs()]
    assert subjects == [{"commonName": "hub-test-ca"}]  # the given CA only, not the system's


def test_tls_without_hostname_check_still_verifies_the_certificate():
    context = KafkaSecurity(protocol="SSL", ca_pem=ca_pem(), check_hostname=False).client_options()["ssl_context"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    system = KafkaSecurity(protocol="SSL").client_options()
    assert system["ssl_context"].verify_mode == ssl.CERT_REQUIRED and "sasl_mechanism" not in system


@pytest.mark.parametrize(("security", "says"), [
    ({"protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "username": "hub"}, "needs sasl_mechanism, username"),
    ({"protocol": "SASL_PLAINTEXT", "username": "hub", "password": PASSWORD}, "needs sasl_mechanism"),
    ({"protocol": "PLAINTEXT", "username": "hub", "password": PASSWORD}, "username, password only apply"),
    ({"protocol": "SSL", "sasl_mechanism": "PLAIN"}, "sasl_mechanism only apply to SASL"),
    ({"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "username": "hub", "password": PASSWORD,
      "ca_pem": "x"}, "ca_pem only applies to SSL"),
    ({"protocol": "SSL", "ca_pem": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"},
     "ca_pem is not PEM"),
    ({"protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "username": "hub", "password": PASSWORD}, "PLAIN"),
    ({"protocol": "TLS"}, "PLAINTEXT"),
    ({"protocol": "SSL", "keystore": "/etc/kafka.jks"}, "Extra inputs are not permitted"),
])
def test_inconsistent_security_is_a_field_error_without_the_password(security, says):
    _connector, config, errors = validate_config(enforcement_config(**security))
    assert config is None and errors
    assert all(e["field"].startswith("config.security") for e in errors), errors
    assert any(says in e["message"] for e in errors), errors
    assert PASSWORD not in json.dumps(errors)


def test_the_password_is_masked_on_the_way_out_and_kept_when_sent_back_masked():
    raw = enforcement_config(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", username="hub", password=PASSWORD)
    stored = raw["config"]
    shown = mask(stored, KafkaJsonConfig)
    assert shown["security"]["password"] == MASK and shown["security"]["username"] == "hub"
    assert PASSWORD not in json.dumps(shown)
    assert restore(shown, stored, KafkaJsonConfig)["security"]["password"] == PASSWORD


class RecordingConsumer:
    """Stands in for kafka-python's KafkaConsumer: records its options, serves one partition."""

    made: list[dict] = []

    def __init__(self, **options):
        RecordingConsumer.made.append(options)

    def partitions_for_topic(self, topic):
        return {0}

    def assign(self, partitions):
        self.partitions = partitions

    def seek_to_beginning(self, *partitions):
        pass

    def close(self, autocommit=False):
        pass


def test_the_consumer_gets_the_security_options(monkeypatch):
    import kafka

    monkeypatch.setattr(kafka, "KafkaConsumer", RecordingConsumer)
    RecordingConsumer.made.clear()
    _connector, config, errors = validate_config(enforcement_config(
        protocol="SASL_SSL", sasl_mechanism="PLAIN", username="hub", password=PASSWORD, ca_pem=ca_pem()))
    assert not errors
    task = KafkaJsonTask(config)
    task.open({})
    task.close()
    (options,) = RecordingConsumer.made
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "PLAIN"
    assert options["sasl_plain_username"] == "hub" and options["sasl_plain_password"] == PASSWORD
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["bootstrap_servers"] == config.bootstrap_servers and options["group_id"] is None
    assert kafka_json.KafkaJsonConfig.model_fields["security"].description  # documented in the plugin's schema
