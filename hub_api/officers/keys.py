"""The hub's Ed25519 key pair for electronic certificates, kept in a file under ``settings.var_dir``.

Choice: a PEM file (PKCS#8, unencrypted) at ``<var_dir>/keys/officer-certificates-ed25519.pem``
with mode 0600 in a 0700 directory, created on first use. A file keeps the private key out of
the database (whose backups and read replicas many people can reach) and out of every API
response; several API replicas share it by mounting the same file (a Kubernetes secret or
a shared volume). Creation is atomic (write a temp file, then ``link`` it into place), so
two processes starting together end up with the same key. The public key is published as
a JWKS by ``GET /verify/keys``; its ``kid`` is the first 16 hex digits of the SHA-256 of
the raw public key.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ops.keyfile import create_ed25519_pem

KEY_FILE = "officer-certificates-ed25519.pem"

_lock = threading.Lock()
_loaded: dict[Path, SigningKey] = {}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey
    kid: str

    @property
    def public_raw(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def jwk(self) -> dict:
        """The public key as a JSON Web Key (RFC 8037: OKP / Ed25519)."""
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(self.public_raw), "kid": self.kid,
                "alg": "EdDSA", "use": "sig"}


def _from_private(private_key: Ed25519PrivateKey) -> SigningKey:
    public = private_key.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SigningKey(private_key, public, hashlib.sha256(raw).hexdigest()[:16])


_create = create_ed25519_pem


def load_or_create(var_dir: Path) -> SigningKey:
    """The key pair under ``var_dir`` (created on first use); cached per path. Thread-safe."""
    path = (Path(var_dir) / "keys" / KEY_FILE).resolve()
    with _lock:
        key = _loaded.get(path)
        if key is None:
            if not path.exists():
                _create(path)
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 private key")
            key = _loaded[path] = _from_private(private)
        return key
