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

The signature travels base64-encoded. Algorithms are an explicit registry (:data:`ALGORITHMS`):

=========  =====================================  ==========================  ====================
name       signature                              public key text             signature bytes
=========  =====================================  ==========================  ====================
ed25519    RFC 8032, via ``cryptography``         base64 of the raw 32 bytes  64 raw bytes
           (default)
sm2-sm3    GB/T 32918.2 (GM/T 0003.2) SM2 over    hex of the uncompressed     DER ``SEQUENCE {r,
           SM3 with Z_A, user ID                  point ``04||X||Y`` (130     s}`` (GM/T 0009),
           ``1234567812345678`` (GM/T 0009),      hex digits), checked to     at most 72 bytes
           curve sm2p256v1, via gmssl             lie on the curve
           (:mod:`hub_api.federation.sm2`)
=========  =====================================  ==========================  ====================

A scheme only has to provide ``load_public`` (AlgorithmError for a malformed key) and the
``Signer``/``Verifier`` below; the hub's own key additionally needs an entry in
:data:`HUB_KEYS` (file name, create, load).

The hub's own key is a file at ``settings.federation_key_path`` or
``<var_dir>/keys/<file>`` for the algorithm in ``settings.federation_algorithm``
(``federation-ed25519.pem``: PKCS#8 PEM; ``federation-sm2.key``: the 64 hex digits of the SM2
private key), created on first use with mode 0600; it never enters the database, so database
backups do not carry it. Changing the algorithm changes the key: peers must register the new
public key (``hub federation key``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub_api.federation import sm2
from ops.keyfile import create_ed25519_pem, create_key_file

VERSION = "FED1"
DEFAULT_ALGORITHM = "ed25519"


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


class Scheme(Protocol):
    name: str

    def load_public(self, text: str) -> Verifier: ...


class AlgorithmError(ValueError):
    """An unknown, unavailable or misused algorithm, or a malformed public key."""


# --- ed25519 ---------------------------------------------------------------------------

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


# --- sm2-sm3 ---------------------------------------------------------------------------

class Sm2Sm3Signer:
    """SM2 over SM3 with private key ``d``; Z_A is computed once. Signatures are DER (GM/T 0009)."""

    algorithm = "sm2-sm3"

    def __init__(self, private_key: int, user_id: bytes = sm2.DEFAULT_USER_ID) -> None:
        self._d = sm2.check_private_key(private_key)
        self._xy = sm2.public_key(private_key)
        self._za = sm2.z_a(self._xy, user_id)

    def sign(self, message: bytes) -> bytes:
        return sm2.encode_signature(*sm2.sign(self._d, self._za, message))

    def public_text(self) -> str:
        return sm2.public_key_text(self._xy)

    def __repr__(self) -> str:  # never the private key
        return f"Sm2Sm3Signer(public_key={self.public_text()!r})"


class Sm2Sm3Verifier:
    algorithm = "sm2-sm3"

    def __init__(self, public_xy: bytes, user_id: bytes = sm2.DEFAULT_USER_ID) -> None:
        self._xy, self._za = public_xy, sm2.z_a(public_xy, user_id)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            r, s = sm2.decode_signature(signature)
        except ValueError:
            return False
        return sm2.verify(self._xy, self._za, message, r, s)


class Sm2Sm3Scheme:
    """SM2 over SM3 (user ID ``1234567812345678`` unless given); public keys are the hex of ``04||X||Y``."""

    name = "sm2-sm3"

    def __init__(self, user_id: bytes = sm2.DEFAULT_USER_ID) -> None:
        self.user_id = user_id

    def load_public(self, text: str) -> Sm2Sm3Verifier:
        try:
            return Sm2Sm3Verifier(sm2.parse_public_key(text), self.user_id)
        except ValueError as exc:
            raise AlgorithmError("an sm2-sm3 public key is the hex of the uncompressed point 04||X||Y "
                                 f"(130 hex digits) on curve sm2p256v1: {exc}") from None


ALGORITHMS: dict[str, Scheme] = {"ed25519": Ed25519Scheme(), "sm2-sm3": Sm2Sm3Scheme()}


def scheme(name: str) -> Scheme:
    """The registered scheme ``name``; AlgorithmError naming the valid ones otherwise."""
    found = ALGORITHMS.get(name)
    if found is None:
        raise AlgorithmError(f"unknown algorithm {name!r}; available: {', '.join(ALGORITHMS)}")
    return found


def b64(signature: bytes) -> str:
    return base64.b64encode(signature).decode("ascii")


def unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- the hub's own key -----------------------------------------------------------------

def _load_ed25519(path: Path) -> Ed25519Signer:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        private = None
    if not isinstance(private, Ed25519PrivateKey):
        raise AlgorithmError(f"{path} does not hold an Ed25519 private key")
    return Ed25519Signer(private)


def _create_sm2(path: Path) -> None:
    create_key_file(path, (sm2.private_key_text(sm2.generate_private_key()) + "\n").encode("ascii"))


def _load_sm2(path: Path) -> Sm2Sm3Signer:
    try:
        return Sm2Sm3Signer(sm2.parse_private_key(path.read_text(encoding="ascii", errors="replace")))
    except ValueError as exc:
        raise AlgorithmError(f"{path} does not hold an SM2 private key: {exc}") from None


@dataclass(frozen=True)
class KeyStore:
    """How one algorithm keeps this hub's private key: default file name, create (0600), load."""

    file_name: str
    create: Callable[[Path], None]
    load: Callable[[Path], Signer]


HUB_KEYS: dict[str, KeyStore] = {
    "ed25519": KeyStore("federation-ed25519.pem", create_ed25519_pem, _load_ed25519),
    "sm2-sm3": KeyStore("federation-sm2.key", _create_sm2, _load_sm2),
}

_lock = threading.Lock()
_loaded: dict[tuple[str, Path], Signer] = {}


def _store(settings) -> tuple[str, KeyStore]:
    algorithm = settings.federation_algorithm
    store = HUB_KEYS.get(algorithm)
    if store is None:
        raise AlgorithmError(f"no key storage for algorithm {algorithm!r}; available: {', '.join(HUB_KEYS)}")
    return algorithm, store


def key_path(settings) -> Path:
    """Where this hub's private key lives (setting, or under ``var_dir`` by algorithm)."""
    _, store = _store(settings)
    return Path(settings.federation_key_path or Path(settings.var_dir) / "keys" / store.file_name).resolve()


def hub_signer(settings) -> Signer:
    """This hub's signer for ``settings.federation_algorithm``, its key file loaded or created on first use.

    Thread-safe and cached per (algorithm, path); AlgorithmError when the file holds another kind of key.
    """
    algorithm, store = _store(settings)
    path = key_path(settings)
    with _lock:
        signer = _loaded.get((algorithm, path))
        if signer is None:
            if not path.exists():
                store.create(path)
            signer = _loaded[(algorithm, path)] = store.load(path)
        return signer
