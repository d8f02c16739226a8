"""Webhook signatures: HMAC-SHA256 over ``f"{timestamp}.{body}"``, shared by sinks, the push endpoint and simulators.

The sender puts the Unix time in seconds in ``X-Hub-Timestamp`` and ``sha256=<hex>`` in
``X-Hub-Signature``; the receiver recomputes it over the exact body bytes and refuses
timestamps outside a tolerance window, so a captured request cannot be replayed later.
``X-Hub-Delivery-Id`` is stable across retries of one record: receivers deduplicate on it.
Pure functions; safe on any thread.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import SecretStr

DELIVERY_ID_HEADER = "X-Hub-Delivery-Id"
TIMESTAMP_HEADER = "X-Hub-Timestamp"
SIGNATURE_HEADER = "X-Hub-Signature"
SCHEME = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300


def _key(secret: str | bytes | SecretStr) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes | SecretStr, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>``."""
    mac = hmac.new(_key(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def verify(secret: str | bytes | SecretStr, timestamp: str | int | None, body: bytes, signature: str | None, *,
           tolerance: float | None = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """Whether ``signature`` signs ``body`` at ``timestamp`` and the timestamp is fresh.

    Constant-time comparison; a missing or malformed timestamp or signature is ``False``.
    ``tolerance`` (seconds, ``None`` to skip the check) bounds ``|now - timestamp|``.
    """
    if not timestamp or not signature or not signature.startswith(SCHEME):
        return False
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if tolerance is not None and abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def signed_headers(secret: str | bytes | SecretStr, body: bytes, delivery_id: str,
                   timestamp: int | None = None) -> dict[str, str]:
    """The three hub headers for one request (timestamp: now, in whole seconds)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {DELIVERY_ID_HEADER: delivery_id, TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}
