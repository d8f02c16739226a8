"""SM2 signatures over SM3 digests on the recommended curve sm2p256v1, using gmssl's arithmetic.

Standards: SM2 signing and verification GB/T 32918.2-2016 (= GM/T 0003.2-2012), curve
parameters GB/T 32918.5 (= GM/T 0003.5), SM3 GB/T 32905-2016 (= GM/T 0004), the default user ID
``1234567812345678`` and the DER signature ``SEQUENCE { r INTEGER, s INTEGER }`` GM/T 0009-2012.

    Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A)    ENTL_A: bit length of ID_A, 2 bytes
    e   = SM3(Z_A || M)

gmssl (pure Python) supplies the point multiplication (``CryptSM2._kg``), the raw
``sign(e, k)`` / ``verify(r||s, e)`` and SM3. This module does the rest itself, because:

* the nonce ``k`` is drawn here from :mod:`secrets` in ``[1, n-1]``: gmssl's own default
  (``func.random_hex``) comes from :mod:`random`, and a predictable ``k`` reveals the private key;
* ``Z_A`` and ``e`` are computed here (once per key for ``Z_A``): gmssl's ``sign_with_sm3``
  computes the same standard value, but its constructor strips the ``04`` prefix with
  ``str.lstrip("04")``, which also eats leading ``0``/``4`` digits of ``X`` (one key in eight).
  The public key is therefore handed to gmssl by attribute, never through the constructor;
* public keys are checked to lie on the curve and signatures to have ``1 <= r, s <= n-1``
  (GB/T 32918.2 verification steps B1-B2), which gmssl's ``verify`` does not check.

Nothing here is constant-time (Python integers): a signer's timing can leak information about
its key to someone who measures many signatures precisely. Errors are :class:`ValueError` with
a message meant for an operator.
"""

from __future__ import annotations

import re
import secrets

from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from gmssl import sm2 as gm_sm2
from gmssl import sm3 as gm_sm3

_TABLE = gm_sm2.default_ecc_table
P = int(_TABLE["p"], 16)
A = int(_TABLE["a"], 16)
B = int(_TABLE["b"], 16)
N = int(_TABLE["n"], 16)
GX, GY = int(_TABLE["g"][:64], 16), int(_TABLE["g"][64:], 16)

DEFAULT_USER_ID = b"1234567812345678"
"""ID_A when the parties agreed on none (GM/T 0009-2012)."""

_HEX = re.compile(r"^[0-9A-Fa-f]*$")


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data``."""
    return bytes.fromhex(gm_sm3.sm3_hash(list(data)))


def on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def _crypt(private_key: int | None = None, public_xy: bytes | None = None) -> gm_sm2.CryptSM2:
    crypt = gm_sm2.CryptSM2(private_key=f"{private_key:064x}" if private_key is not None else "", public_key="")
    if public_xy is not None:
        crypt.public_key = public_xy.hex()  # by attribute: the constructor's lstrip("04") corrupts some keys
    return crypt


# --- keys -------------------------------------------------------------------------------

def generate_private_key() -> int:
    """A new private key ``d`` in ``[1, n-2]`` (``1 + d`` must be invertible mod n)."""
    return secrets.randbelow(N - 2) + 1


def check_private_key(d: int) -> int:
    if not 1 <= d <= N - 2:
        raise ValueError("an SM2 private key is an integer in [1, n-2]")
    return d


def private_key_text(d: int) -> str:
    """The key file format: 64 lower-case hex digits of ``d``."""
    return f"{check_private_key(d):064x}"


def parse_private_key(text: str) -> int:
    """``d`` from 64 hex digits (surrounding whitespace ignored); ValueError otherwise."""
    text = text.strip()
    if len(text) != 64 or not _HEX.match(text):
        raise ValueError("an SM2 private key file holds the 64 hex digits of the key")
    return check_private_key(int(text, 16))


def public_key(d: int) -> bytes:
    """``X || Y`` (64 bytes) of the public point ``[d]G``."""
    xy = _crypt()._kg(check_private_key(d), _TABLE["g"])
    return bytes.fromhex(xy)


def public_key_text(xy: bytes) -> str:
    """The uncompressed point ``04 || X || Y`` as 130 lower-case hex digits."""
    return "04" + xy.hex()


def parse_public_key(text: str) -> bytes:
    """``X || Y`` from the hex of ``04 || X || Y``; ValueError saying what is wrong otherwise."""
    if not _HEX.match(text):
        raise ValueError("it is not hexadecimal")
    if len(text) == 128:
        raise ValueError("128 hex digits: the uncompressed-point prefix 04 is missing")
    if len(text) == 66 and text[:2] in ("02", "03"):
        raise ValueError("compressed points are not accepted; send the uncompressed form")
    if len(text) != 130 or text[:2] != "04":
        raise ValueError(f"{len(text)} hex digits, expected 130 starting with 04")
    x, y = int(text[2:66], 16), int(text[66:], 16)
    if not on_curve(x, y):
        raise ValueError("the point is not on the SM2 curve sm2p256v1")
    return bytes.fromhex(text[2:])


def z_a(xy: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """``Z_A`` of the public key ``xy`` (X || Y) and the signer's ID (GB/T 32918.2)."""
    entl = len(user_id) * 8
    if entl > 0xFFFF:
        raise ValueError("an SM2 user ID is at most 8191 bytes")
    params = b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))
    return sm3(entl.to_bytes(2, "big") + user_id + params + xy)


# --- signatures -------------------------------------------------------------------------

def sign(d: int, za: bytes, message: bytes) -> tuple[int, int]:
    """``(r, s)`` of ``message`` under private key ``d`` whose ``Z_A`` is ``za``, fresh random ``k``."""
    while True:
        signature = sign_with_nonce(d, za, message, secrets.randbelow(N - 1) + 1)
        if signature is not None:
            return signature


def sign_with_nonce(d: int, za: bytes, message: bytes, k: int) -> tuple[int, int] | None:
    """The signature with a given nonce ``k``, None when ``k`` is unusable (r = 0, r + k = n, s = 0).

    Only for known-answer tests and :func:`sign`: a reused or guessable ``k`` reveals ``d``.
    """
    out = _crypt(private_key=check_private_key(d)).sign(sm3(za + message), f"{k:064x}")
    return None if out is None else (int(out[:64], 16), int(out[64:], 16))


def verify(xy: bytes, za: bytes, message: bytes, r: int, s: int) -> bool:
    """True when ``(r, s)`` is a valid signature of ``message`` by the key ``xy`` with ``Z_A`` ``za``."""
    if not (1 <= r < N and 1 <= s < N):
        return False
    try:
        return bool(_crypt(public_xy=xy).verify(f"{r:064x}{s:064x}", sm3(za + message)))
    except (TypeError, ValueError):
        # [s]G + [t]P_A at infinity: gmssl returns no coordinates. Such a signature is invalid.
        return False


def encode_signature(r: int, s: int) -> bytes:
    """DER ``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009), 70-72 bytes."""
    return encode_dss_signature(r, s)


def decode_signature(der: bytes) -> tuple[int, int]:
    """``(r, s)`` from strict DER; ValueError for any other encoding (BER variants, trailing bytes)."""
    r, s = decode_dss_signature(der)
    if encode_dss_signature(r, s) != der:
        raise ValueError("not the DER encoding of an SM2 signature")
    return r, s
