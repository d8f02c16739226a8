"""Canonical signing string, signatures, tamper detection and the algorithm registry."""

import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub_api.federation import protocol, sm2
from hub_api.federation.signing import (
    ALGORITHMS,
    AlgorithmError,
    Ed25519Signer,
    Sm2Sm3Signer,
    hub_signer,
    key_path,
    scheme,
    sha256_hex,
    signing_string,
)
from ops.settings import HubSettings

BODY = b'{"message_id":"m1","payload":{"task":"T-1"},"type":"assignment"}'


def test_canonical_string_is_the_documented_nine_lines():
    s = signing_string(method="post", path="/federation/messages", timestamp=1700000000, nonce="n1",
                       idempotency_key="k1", body=BODY, sender="330000", receiver="320000")
    assert s.decode().split("\n") == ["FED1", "POST", "/federation/messages", "1700000000", "n1", "k1",
                                      sha256_hex(BODY), "330000", "320000"]


def test_newlines_cannot_smuggle_fields():
    with pytest.raises(ValueError):
        signing_string(method="POST", path="/x", timestamp=1, nonce="a\nb", idempotency_key="k",
                       body=b"", sender="a", receiver="b")


NEW_SIGNERS = {
    "ed25519": lambda: Ed25519Signer(Ed25519PrivateKey.generate()),
    "sm2-sm3": lambda: Sm2Sm3Signer(sm2.generate_private_key()),
}


@pytest.fixture(params=list(NEW_SIGNERS))
def signer(request):
    """A fresh signer of each registered algorithm: the protocol tests below run once per algorithm."""
    return NEW_SIGNERS[request.param]()


def test_every_registered_algorithm_is_exercised_here():
    assert set(NEW_SIGNERS) == set(ALGORITHMS)


def _headers(signer, **over):
    base = dict(sender="330000", receiver="320000", idempotency_key="k1", body=BODY, timestamp=1700000000)
    base.update(over)
    return protocol.sign_request(signer, **base)


@pytest.mark.parametrize("field,value", [
    ("x-fed-sender", "310000"), ("x-fed-receiver", "340000"), ("x-fed-timestamp", "1700000001"),
    ("x-fed-nonce", "other"), ("x-fed-idempotency-key", "k2"),
])
def test_every_signed_header_is_covered(signer, field, value):
    verifier = scheme(signer.algorithm).load_public(signer.public_text())
    headers = _headers(signer)
    assert protocol.verify_request(verifier, headers, BODY)
    assert not protocol.verify_request(verifier, {**headers, field: value}, BODY)


def test_a_changed_body_or_another_key_fails(signer):
    verifier = scheme(signer.algorithm).load_public(signer.public_text())
    headers = _headers(signer)
    assert not protocol.verify_request(verifier, headers, BODY.replace(b"T-1", b"T-2"))
    other = NEW_SIGNERS[signer.algorithm]()
    assert not protocol.verify_request(verifier, _headers(other), BODY)
    assert not protocol.verify_request(verifier, {**headers, "x-fed-signature": "not base64!"}, BODY)


def test_ack_binds_request_hash_key_and_parties(signer):
    from datetime import UTC, datetime

    peer = {"hub_id": "320000", "algorithm": signer.algorithm, "public_key": signer.public_text()}
    doc = protocol.make_ack(signer, sender="320000", receiver="330000", message_id="m1", idempotency_key="k1",
                            request_body=BODY, now=datetime.now(UTC), result=None)
    ok = dict(peer=peer, own_hub_id="330000", idempotency_key="k1", request_body=BODY)
    assert protocol.check_ack(doc, **ok) is None
    assert protocol.check_ack(doc, **{**ok, "idempotency_key": "k2"}) == "ack_idempotency_key_mismatch"
    assert protocol.check_ack(doc, **{**ok, "request_body": b"{}"}) == "ack_request_sha256_mismatch"
    assert protocol.check_ack(doc, **{**ok, "own_hub_id": "310000"}) == "ack_receiver_mismatch"
    forged = {"ack": {**doc["ack"], "result": {"x": 1}}, "signature": doc["signature"]}
    assert protocol.check_ack(forged, **ok) == "ack_bad_signature"


def test_registry_names_the_valid_algorithms():
    with pytest.raises(AlgorithmError, match="available: ed25519, sm2-sm3"):
        scheme("rsa")
    assert scheme("sm2-sm3").name == "sm2-sm3"
    with pytest.raises(AlgorithmError):
        scheme("ed25519").load_public("AAAA")


def test_a_key_of_one_algorithm_does_not_load_as_the_other():
    ed, sm = NEW_SIGNERS["ed25519"](), NEW_SIGNERS["sm2-sm3"]()
    with pytest.raises(AlgorithmError, match="sm2-sm3 public key"):
        scheme("sm2-sm3").load_public(ed.public_text())
    with pytest.raises(AlgorithmError, match="ed25519 public key"):
        scheme("ed25519").load_public(sm.public_text())


def test_hub_key_is_created_once_with_mode_0600(tmp_path):
    settings = HubSettings(var_dir=tmp_path, environment="test")
    first = hub_signer(settings)
    path = tmp_path / "keys" / "federation-ed25519.pem"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert hub_signer(settings).public_text() == first.public_text()
    explicit = HubSettings(var_dir=tmp_path, federation_key_path=tmp_path / "other.pem", environment="test")
    assert hub_signer(explicit).public_text() != first.public_text()


def test_an_sm2_hub_keeps_its_own_hex_key_file(tmp_path):
    settings = HubSettings(var_dir=tmp_path, environment="test", federation_algorithm="sm2-sm3")
    signer = hub_signer(settings)
    path = tmp_path / "keys" / "federation-sm2.key"
    assert key_path(settings) == path.resolve() and signer.algorithm == "sm2-sm3"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    text = path.read_text()
    assert len(text.strip()) == 64 and text.endswith("\n")
    assert signer.public_text() == sm2.public_key_text(sm2.public_key(int(text, 16)))
    assert hub_signer(settings) is signer
    assert text.strip() not in repr(signer)
    # The Ed25519 key of the same var_dir is a different file; both coexist.
    ed = hub_signer(HubSettings(var_dir=tmp_path, environment="test"))
    assert ed.algorithm == "ed25519" and (tmp_path / "keys" / "federation-ed25519.pem").exists()


def test_a_key_file_of_the_wrong_kind_is_refused_by_name(tmp_path):
    pem = tmp_path / "ed.pem"
    hub_signer(HubSettings(var_dir=tmp_path, environment="test", federation_key_path=pem))
    with pytest.raises(AlgorithmError, match="does not hold an SM2 private key"):
        hub_signer(HubSettings(var_dir=tmp_path, environment="test", federation_key_path=pem,
                               federation_algorithm="sm2-sm3"))
    hexkey = tmp_path / "sm2.key"
    hub_signer(HubSettings(var_dir=tmp_path, environment="test", federation_key_path=hexkey,
                           federation_algorithm="sm2-sm3"))
    with pytest.raises(AlgorithmError, match="does not hold an Ed25519 private key"):
        hub_signer(HubSettings(var_dir=tmp_path, environment="test", federation_key_path=hexkey))
