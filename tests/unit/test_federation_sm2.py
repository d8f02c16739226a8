"""The sm2-sm3 scheme: published known answers, encodings, key checks and the inbound path."""

from datetime import UTC, datetime
from typing import get_args

import pytest
from cryptography.hazmat.primitives import hashes
from gmssl import sm2 as gm_sm2

from hub_api.db import Database
from hub_api.federation import inbound, peers, protocol, sm2
from hub_api.federation.handlers import HANDLERS
from hub_api.federation.signing import (
    ALGORITHMS,
    HUB_KEYS,
    AlgorithmError,
    Sm2Sm3Scheme,
    Sm2Sm3Signer,
    canonical_json,
    scheme,
)
from ops.settings import HubSettings

# GM/T 0003.5-2012 (= GB/T 32918.5) Appendix A: the signature example on the recommended curve.
# Reproduced in openHiTLS (crypto/provider/src/cmvp/cmvp_utils/cmvp_selftest_sm2.c, SM2DSA_VECTOR)
# and chenpengcong/sm2-with-openssl (test_sm2_sign_verify.c), which also gives e (the "H" below).
KAT_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
KAT_PUBLIC = ("04" "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
              "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
KAT_MESSAGE = b"message digest"
KAT_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
KAT_E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
KAT_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
KAT_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
KAT_DER = ("3046022100F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
           "022100B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")


def test_sm3_matches_the_standard_examples():
    # GB/T 32905-2016 Appendix A, examples 1 and 2.
    assert sm2.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm2.sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    # ... and OpenSSL's SM3 (through `cryptography`) on a multi-block input.
    data = bytes(range(256)) * 3
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    assert sm2.sm3(data) == h.finalize()


def test_gmt_0003_5_signature_example_with_the_default_user_id():
    xy = sm2.public_key(KAT_D)
    assert sm2.public_key_text(xy) == KAT_PUBLIC.lower()
    za = sm2.z_a(xy)
    assert sm2.sm3(za + KAT_MESSAGE).hex() == KAT_E.lower()
    assert sm2.sign_with_nonce(KAT_D, za, KAT_MESSAGE, KAT_K) == (KAT_R, KAT_S)
    assert sm2.encode_signature(KAT_R, KAT_S).hex() == KAT_DER.lower()


def test_the_published_signature_verifies_through_the_scheme():
    verifier = scheme("sm2-sm3").load_public(KAT_PUBLIC)  # upper-case hex is accepted
    der = bytes.fromhex(KAT_DER)
    assert verifier.verify(der, KAT_MESSAGE)
    assert not verifier.verify(der, b"message digesT")
    assert not verifier.verify(sm2.encode_signature(KAT_R, KAT_S + 1), KAT_MESSAGE)
    assert not Sm2Sm3Scheme(user_id=b"ALICE123@YAHOO.COM").load_public(KAT_PUBLIC).verify(der, KAT_MESSAGE)


def test_another_user_id_changes_z_a_as_published():
    # Same key, nonce and message with ID "ALICE123@YAHOO.COM" (ENTL 0x0090): r, s as published in the
    # SM2Utils test suites of public Java SM2 libraries (not a standard's annex).
    za = sm2.z_a(sm2.public_key(KAT_D), b"ALICE123@YAHOO.COM")
    assert sm2.sign_with_nonce(KAT_D, za, KAT_MESSAGE, KAT_K) == (
        0xB0E3E7D4AC2178F833AD73FA9D1191E41C76C8BFEDB5AD89040BA2E5184BDE58,
        0xCC8D096578F7DD2669AC1AC42F7E722BCFA42B9E0BE0B1B5DF7CA0B53FDD5750)


def test_round_trip_tamper_and_wrong_key():
    signer, other = Sm2Sm3Signer(sm2.generate_private_key()), Sm2Sm3Signer(sm2.generate_private_key())
    verifier = scheme("sm2-sm3").load_public(signer.public_text())
    signature = signer.sign(b"FED1\nPOST")
    assert signature != signer.sign(b"FED1\nPOST")  # a fresh k each time
    assert verifier.verify(signature, b"FED1\nPOST")
    assert not verifier.verify(signature, b"FED1\nPUT")
    assert not verifier.verify(other.sign(b"FED1\nPOST"), b"FED1\nPOST")
    assert not scheme("sm2-sm3").load_public(other.public_text()).verify(signature, b"FED1\nPOST")


def test_a_public_key_whose_x_starts_with_04_survives():
    # gmssl's constructor would lstrip("04") this key into 126 digits; sm2.py hands it over by attribute.
    signer = Sm2Sm3Signer(11)
    assert signer.public_text().startswith("0404")
    assert len(gm_sm2.CryptSM2(private_key="", public_key=signer.public_text()).public_key) != 128
    assert scheme("sm2-sm3").load_public(signer.public_text()).verify(signer.sign(b"m"), b"m")


@pytest.mark.parametrize("der", [
    "",                                                  # empty
    "3006020100020101",                                  # r = 0
    "3006020101020100",                                  # s = 0
    "30260221" + "00" + "FF" * 32 + "020101",            # r >= n
    KAT_DER + "00",                                      # trailing byte
    "30470222" + "0000" + KAT_DER[10:],                  # non-minimal INTEGER (extra leading zero)
    f"{KAT_R:064x}{KAT_S:064x}",                         # raw r || s instead of DER
])
def test_malformed_or_out_of_range_signatures_fail_without_raising(der):
    verifier = scheme("sm2-sm3").load_public(KAT_PUBLIC)
    assert verifier.verify(bytes.fromhex(der), KAT_MESSAGE) is False


def test_r_and_s_must_lie_in_1_to_n_minus_1():
    xy = sm2.public_key(KAT_D)
    za = sm2.z_a(xy)
    assert sm2.verify(xy, za, KAT_MESSAGE, KAT_R, KAT_S)
    assert not sm2.verify(xy, za, KAT_MESSAGE, KAT_R + sm2.N, KAT_S)
    assert not sm2.verify(xy, za, KAT_MESSAGE, KAT_R, KAT_S + sm2.N)


@pytest.mark.parametrize("text,reason", [
    (KAT_PUBLIC[2:], "prefix 04 is missing"),
    ("02" + KAT_PUBLIC[2:66], "compressed points are not accepted"),
    (KAT_PUBLIC[:-1], "129 hex digits"),
    ("05" + KAT_PUBLIC[2:], "expected 130 starting with 04"),
    (KAT_PUBLIC[:-1] + "4", "not on the SM2 curve"),
    ("04" + "FF" * 64, "not on the SM2 curve"),                    # coordinates >= p
    ("CeqV+j0Y2Z7D1jW5bq1m1vX7yEo8D3rJb6tQwHk4s2M=", "not hexadecimal"),  # an ed25519-style key
    (" " + KAT_PUBLIC, "not hexadecimal"),
])
def test_malformed_public_keys_are_refused_with_the_reason(text, reason):
    with pytest.raises(AlgorithmError, match=reason) as caught:
        scheme("sm2-sm3").load_public(text)
    assert "04||X||Y" in str(caught.value)


def test_private_key_text_round_trips_and_is_range_checked():
    d = sm2.generate_private_key()
    assert sm2.parse_private_key(sm2.private_key_text(d) + "\n") == d
    for bad in ("00" * 32, f"{sm2.N - 1:064x}", "zz" * 32, "ab" * 31):
        with pytest.raises(ValueError):
            sm2.parse_private_key(bad)


def test_settings_registry_and_key_storage_name_the_same_algorithms():
    choices = get_args(HubSettings.model_fields["federation_algorithm"].annotation)
    assert set(choices) == set(ALGORITHMS) == set(HUB_KEYS)


def test_an_sm2_peer_is_accepted_through_the_inbound_checks(tmp_path):
    zj, js = Sm2Sm3Signer(sm2.generate_private_key()), Sm2Sm3Signer(sm2.generate_private_key())
    db = Database(f"sqlite:///{tmp_path / 'js.db'}")
    db.create_schema()
    now = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    with db.engine.begin() as conn:
        peers.upsert(conn, "330000", peers.PeerSpec(name="浙江", base_url="http://zj.invalid",
                                                    algorithm="sm2-sm3", public_key=zj.public_text()), now)
    body = canonical_json({"message_id": "m-1", "type": "assignment", "payload": {"task_id": "JT-1"}})

    def deliver(signer, key):
        headers = protocol.sign_request(signer, sender="330000", receiver="320000", idempotency_key=key,
                                        body=body, timestamp=int(now.timestamp()))
        return headers, inbound.receive(db.engine, hub_id="320000", signer=js, handlers=dict(HANDLERS),
                                        path=protocol.MESSAGES_PATH, headers=headers, body=body, now=now)

    try:
        headers, outcome = deliver(zj, "k1")
        assert outcome.status == 200, outcome.body
        assert headers[protocol.H_ALGORITHM] == "sm2-sm3" and outcome.body["ack"]["algorithm"] == "sm2-sm3"
        js_peer = {"hub_id": "320000", "algorithm": "sm2-sm3", "public_key": js.public_text()}
        assert protocol.check_ack(outcome.body, peer=js_peer, own_hub_id="330000", idempotency_key="k1",
                                  request_body=body) is None
        # Another SM2 key claiming to be Zhejiang is refused.
        _, forged = deliver(Sm2Sm3Signer(sm2.generate_private_key()), "k2")
        assert (forged.status, forged.refused) == (401, "bad_signature")
    finally:
        db.engine.dispose()
