"""Electronic certificates: key file, token issue, signature / claims / expiry / registry checks."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

import jwt
import pytest

from hub_api.db import Database
from hub_api.officers import keys as key_module
from hub_api.officers.certificates import CertificateError, CertificateService, MalformedToken
from hub_api.officers.keys import KEY_FILE, load_or_create
from processors.officers.processor import OfficersProcessor
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from tests.unit.processors.test_officers_processor import officer, rec

START = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai


@pytest.fixture
def env(sqlite_url, tmp_path):
    db = Database(sqlite_url)
    db.create_schema()
    clock = FixedClock(START)
    applier = BatchApplier(db.engine, OfficersProcessor(), clock)
    applier.handle([rec(officer("C1", 1, valid_to=date(2026, 12, 31)), 0),
                    rec(officer("C2", 1, status="suspended"), 1),
                    rec(officer("C3", 1, valid_to=date(2026, 3, 31)), 2)])
    service = CertificateService(db.engine, load_or_create(tmp_path / "var"), clock)
    yield service, applier, clock
    db.dispose()


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_key_file_is_private_stable_and_created_once(tmp_path):
    var = tmp_path / "var"
    found = []
    threads = [threading.Thread(target=lambda: found.append(load_or_create(var).kid)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    path = var / "keys" / KEY_FILE
    assert len(set(found)) == 1
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    key_module._loaded.clear()  # a new process reads the same file
    assert load_or_create(var).kid == found[0]
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE]  # no temp files left


def test_valid_token_verifies_with_masked_public_data_and_offline(env):
    service, _, _ = env
    issued = service.issue("C1", "client-1")
    assert issued.expires_at - issued.issued_at == timedelta(seconds=300)
    result = service.verify(issued.token)
    assert (result.valid, result.reason, result.status) == (True, "ok", "valid")
    assert result.officer == "张*丰"
    assert result.department == {"code": "330106SCJ", "name": "西湖区市场监督管理局"}
    assert result.region["code"] == "330106" and result.domains[0]["code"] == "SPAQ"
    assert result.issued_by == "supervision-hub"
    public = json.dumps(asdict(result), default=str, ensure_ascii=False)
    assert "张三丰" not in public and "13812345678" not in public and "19850601" not in public
    # Anyone can verify offline with the published JWK.
    jwk = jwt.PyJWK(service.key.jwk())
    claims = jwt.decode(issued.token, jwk.key, algorithms=["EdDSA"], audience="officer-certificate",
                        options={"verify_exp": False})
    assert claims["sub"] == "C1" and claims["jti"] == issued.jti


def test_tampered_and_foreign_tokens_are_invalid(env, tmp_path):
    service, _, _ = env
    token = service.issue("C1", "client-1").token
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    forged_body = _b64({**claims, "sub": "C2"})
    assert service.verify(f"{head}.{forged_body}.{sig}").reason == "bad_signature"
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert service.verify(f"{head}.{body}.{flipped}").reason == "bad_signature"
    assert service.verify(f"{_b64({'alg': 'none'})}.{body}.{sig}").reason == "unsupported_algorithm"
    other = CertificateService(service.engine, load_or_create(tmp_path / "other"), service.clock)
    foreign = other.issue("C1", "client-1").token
    assert service.verify(foreign).reason == "unknown_key"
    # Signed with the hub's key but never issued (the audit has no such jti): not accepted.
    unissued = jwt.encode({**claims, "jti": "f" * 32}, service.key.private_key, algorithm="EdDSA",
                          headers={"kid": service.key.kid})
    assert service.verify(unissued).reason == "unknown_token"
    for result in (service.verify(f"{head}.{forged_body}.{sig}"), service.verify(foreign)):
        assert not result.valid and result.certificate_number is None and result.officer is None


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "!!.e30.e30", "e30.e30.a", "bm90IGpzb24.e30.e30",
                                   "W10.e30.e30", "x" * 3000])
def test_malformed_input_raises(env, token):
    service, _, _ = env
    with pytest.raises(MalformedToken):
        service.verify(token)


def test_token_expiry_and_ttl(env):
    service, _, clock = env
    issued = service.issue("C1", "client-1", ttl_s=60)
    clock.advance(seconds=59)
    assert service.verify(issued.token).valid
    clock.advance(seconds=1)
    result = service.verify(issued.token)
    assert (result.valid, result.reason, result.certificate_number) == (False, "token_expired", "C1")
    with pytest.raises(CertificateError) as err:
        service.issue("C1", "client-1", ttl_s=3601)
    assert err.value.reason == "ttl_out_of_range"


def test_revocation_is_effective_at_once_for_an_unexpired_token(env):
    service, applier, _ = env
    token = service.issue("C1", "client-1", ttl_s=3600).token
    assert service.verify(token).valid
    applier.handle([rec(officer("C1", 2, status="revoked", valid_to=date(2026, 12, 31)))])
    result = service.verify(token)
    assert (result.valid, result.reason, result.status) == (False, "certificate_revoked", "revoked")
    assert result.officer == "张*丰"


def test_certificate_expiry_caps_the_token_and_invalidates_it_at_midnight(env):
    service, _, clock = env
    issued = service.issue("C3", "client-1", ttl_s=3600)  # issued 23:00 Shanghai, last valid day
    assert issued.expires_at == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    clock.set(datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC))
    assert service.verify(issued.token).valid
    longer = service.issue("C1", "client-1", ttl_s=3600)
    clock.set(datetime(2026, 3, 31, 16, 0, 0, tzinfo=UTC))
    assert service.verify(issued.token).reason == "token_expired"
    # Without the timer having run, a certificate past valid_to verifies and issues as expired.
    with pytest.raises(CertificateError) as err:
        service.issue("C3", "client-1")
    assert (err.value.reason, err.value.status) == ("certificate_expired", "expired")
    assert service.verify(longer.token).valid  # C1 is valid to the end of the year


def test_no_token_for_a_certificate_that_is_not_valid(env):
    service, _, _ = env
    with pytest.raises(CertificateError) as err:
        service.issue("C2", "client-1")
    assert (err.value.reason, err.value.status) == ("certificate_suspended", "suspended")
    with pytest.raises(CertificateError) as err:
        service.issue("nope", "client-1")
    assert err.value.reason == "certificate_unknown"
