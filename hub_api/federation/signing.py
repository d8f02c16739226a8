"""Request and acknowledgement signatures, the canonical signing string and the hub's own key.

Canonical signing string (UTF-8, lines joined by ``\\n``, no trailing newline)::

    FED1
    <METHOD>            upper case, e.g. POST (acknowledgements use ACK)
    <PATH>              request path, e.g. /federation/messages
    <TIMESTAMP>         integer Unix seconds
    <NONCE>             sender-chosen random string, never reused
    <IDEMPOTENCY-KEY>   sender-chosen key of the logical message
    <SHA256(BODY)>      lower-case hex digest of the exact body bytes
    <SENDER-HUB-ID>     e.g. 330000
    <RECEIVER-HUB-ID>   e.g. 320000

The signature travels base64-encoded. Algorithms are an explicit registry
(:data:`ALGORITHMS`); ``ed25519`` (RFC 8032, via ``cryptography``) is the default and the only
one implemented. ``sm2-sm3`` (GM/T 0003 signatures over GM/T 0004 digests) is listed in
:data:`PLANNED`: no SM2 package is installed in this build, so choosing it is refused with
a message instead of failing later. A scheme only has to provide ``load_public``,
``public_text`` and the ``Signer``/``Verifier`` below.

The hub's own key is a PEM file (PKCS#8) at ``settings.federation_key_path`` or
``<var_dir>/keys/federation-ed25519.pem``, created on first use with mode 0600; it never
enters the database, so database backups do not carry it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ops.keyfile import create_ed25519_pem

VERSION = "FED1"
DEFAULT_ALGORITHM = "ed25519"
KEY_FILE = "federation-ed25519.pem"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj) -> bytes:
    """The one JSON encoding that is hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signing_string(*, method: str, path: str, timestamp: int, nonce: str, idempotency_key: str,
                   body: bytes, sender: str, receiver: str) -> bytes:
    """The canonical bytes that are signed (see the module docstring)."""
    for name, value in (("nonce", nonce), ("idempotency_key", idempotency_key), ("path", path),
                        ("sender", sender), ("receiver", receiver)):
        if "\n" in value:
            raise ValueError(f"{name} must not contain a newline")
    parts = [VERSION, method.upper(), path, str(int(timestamp)), nonce, idempotency_key,
             sha256_hex(body), sender, receiver]
    return "\n".join(parts).encode("utf-8")


class Signer(Protocol):
    algorithm: str

    def sign(self, message: bytes) -> bytes: ...

    def public_text(self) -> str: ...


class Verifier(Protocol):
    algorithm: str

    def verify(self, signature: bytes, message: bytes) -> bool: ...


class AlgorithmError(ValueError):
    """An unknown, unavailable or misused algorithm, or a malformed public key."""


@dataclass(frozen=True)
class Ed25519Signer:
    private_key: Ed25519PrivateKey
    algorithm: str = "ed25519"

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def public_text(self) -> str:
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Ed25519Verifier:
    public_key: Ed25519PublicKey
    algorithm: str = "ed25519"

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Ed25519Scheme:
    """Ed25519; public keys are the base64 of the 32 raw bytes."""

    name = "ed25519"

    def load_public(self, text: str) -> Ed25519Verifier:
        try:
            raw = base64.b64decode(text, validate=True)
            return Ed25519Verifier(Ed25519PublicKey.from_public_bytes(raw))
        except (binascii.Error, ValueError):
            raise AlgorithmError("an ed25519 public key is the base64 of its 32 raw bytes") from None


ALGORITHMS: dict[str, Ed25519Scheme] = {"ed25519": Ed25519Scheme()}
PLANNED: dict[str, str] = {
    "sm2-sm3": "SM2 signatures over SM3 digests (GM/T 0003/0004): pluggable, but no SM2 package is "
               "installed in this build",
}


def scheme(name: str) -> Ed25519Scheme:
    """The registered scheme ``name``; AlgorithmError naming the valid ones otherwise."""
    found = ALGORITHMS.get(name)
    if found is not None:
        return found
    if name in PLANNED:
        raise AlgorithmError(f"algorithm {name!r} is not available: {PLANNED[name]}; "
                             f"available: {', '.join(ALGORITHMS)}")
    raise AlgorithmError(f"unknown algorithm {name!r}; available: {', '.join(ALGORITHMS)}; "
                         f"planned: {', '.join(PLANNED)}")


def b64(signature: bytes) -> str:
    return base64.b64encode(signature).decode("ascii")


def unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- the hub's own key -----------------------------------------------------------------

_lock = threading.Lock()
_loaded: dict[Path, Ed25519Signer] = {}


def key_path(settings) -> Path:
    """Where this hub's private key lives (setting, or under ``var_dir``)."""
    return Path(settings.federation_key_path or Path(settings.var_dir) / "keys" / KEY_FILE).resolve()


_create = create_ed25519_pem


def hub_signer(settings) -> Ed25519Signer:
    """This hub's signer, loading or creating the key file on first use (thread-safe, cached)."""
    path = key_path(settings)
    with _lock:
        signer = _loaded.get(path)
        if signer is None:
            if not path.exists():
                _create(path)
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise AlgorithmError(f"{path} does not hold an Ed25519 private key")
            signer = _loaded[path] = Ed25519Signer(private)
        return signer
