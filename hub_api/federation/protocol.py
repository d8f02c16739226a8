"""The wire protocol: headers, message body, acknowledgement documents and how both are signed.

A request is ``POST <peer base_url>/federation/messages`` with the JSON body
``{"message_id", "type", "payload"}`` and the headers below; its signature covers the
canonical signing string of :mod:`hub_api.federation.signing` (method POST, the path,
the timestamp, nonce, idempotency key, body hash, sender and receiver).

The answer to an accepted request is ``{"ack": {...}, "signature": "<base64>"}``. The ack
names the message, the idempotency key, the SHA-256 of the request body, the acking hub
(``sender``) and the requester (``receiver``), its own timestamp and nonce; the signature
covers the canonical signing string with method ``ACK``, the same path and idempotency
key, and the SHA-256 of ``canonical_json(ack)``. A retried request gets the stored ack
again, byte for byte, so acks are not checked against the timestamp window: binding to
the request's body hash and idempotency key is what makes them non-transferable.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub_api.federation.signing import (
    b64,
    canonical_json,
    scheme,
    sha256_hex,
    signing_string,
    unb64,
)

MESSAGES_PATH = "/federation/messages"
WINDOW_S = 300

H_SENDER = "x-fed-sender"
H_RECEIVER = "x-fed-receiver"
H_TIMESTAMP = "x-fed-timestamp"
H_NONCE = "x-fed-nonce"
H_IDEMPOTENCY = "x-fed-idempotency-key"
H_ALGORITHM = "x-fed-algorithm"
H_SIGNATURE = "x-fed-signature"
REQUIRED_HEADERS = (H_SENDER, H_RECEIVER, H_TIMESTAMP, H_NONCE, H_IDEMPOTENCY, H_ALGORITHM, H_SIGNATURE)


class MessageBody(BaseModel):
    """The JSON body of a federation request."""

    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(..., min_length=1, max_length=64)
    type: str = Field(..., min_length=1, max_length=64)
    payload: dict


def new_nonce() -> str:
    return secrets.token_hex(16)


def sign_request(signer, *, sender: str, receiver: str, idempotency_key: str, body: bytes,
                 timestamp: int, nonce: str | None = None, path: str = MESSAGES_PATH) -> dict[str, str]:
    """The headers of a signed request (a fresh nonce unless one is given)."""
    nonce = nonce or new_nonce()
    message = signing_string(method="POST", path=path, timestamp=timestamp, nonce=nonce,
                             idempotency_key=idempotency_key, body=body, sender=sender, receiver=receiver)
    return {H_SENDER: sender, H_RECEIVER: receiver, H_TIMESTAMP: str(int(timestamp)), H_NONCE: nonce,
            H_IDEMPOTENCY: idempotency_key, H_ALGORITHM: signer.algorithm,
            H_SIGNATURE: b64(signer.sign(message)), "content-type": "application/json"}


def verify_request(verifier, headers: Mapping[str, str], body: bytes, path: str = MESSAGES_PATH) -> bool:
    signature = unb64(headers[H_SIGNATURE])
    if signature is None:
        return False
    try:
        message = signing_string(method="POST", path=path, timestamp=int(headers[H_TIMESTAMP]),
                                 nonce=headers[H_NONCE], idempotency_key=headers[H_IDEMPOTENCY],
                                 body=body, sender=headers[H_SENDER], receiver=headers[H_RECEIVER])
    except ValueError:
        return False
    return verifier.verify(signature, message)


def _ack_signing_string(ack: dict) -> bytes:
    return signing_string(method="ACK", path=MESSAGES_PATH, timestamp=ack["timestamp"], nonce=ack["nonce"],
                          idempotency_key=ack["idempotency_key"], body=canonical_json(ack),
                          sender=ack["sender"], receiver=ack["receiver"])


def make_ack(signer, *, sender: str, receiver: str, message_id: str, idempotency_key: str,
             request_body: bytes, now: datetime, result: dict | None) -> dict:
    """A signed acknowledgement document ``{"ack", "signature"}``."""
    ack = {"v": "FED1", "status": "accepted", "message_id": message_id, "idempotency_key": idempotency_key,
           "request_sha256": sha256_hex(request_body), "sender": sender, "receiver": receiver,
           "timestamp": int(now.timestamp()), "nonce": new_nonce(), "algorithm": signer.algorithm,
           "result": result}
    return {"ack": ack, "signature": b64(signer.sign(_ack_signing_string(ack)))}


def check_ack(document: object, *, peer: dict, own_hub_id: str, idempotency_key: str,
              request_body: bytes) -> str | None:
    """None when ``document`` is a valid ack from ``peer`` for this request; else the reason."""
    if not isinstance(document, dict) or not isinstance(document.get("ack"), dict):
        return "ack_malformed"
    ack, signature = document["ack"], unb64(str(document.get("signature", "")))
    expected = {"sender": peer["hub_id"], "receiver": own_hub_id, "idempotency_key": idempotency_key,
                "request_sha256": sha256_hex(request_body), "status": "accepted",
                "algorithm": peer["algorithm"]}
    for key, value in expected.items():
        if ack.get(key) != value:
            return f"ack_{key}_mismatch"
    if signature is None:
        return "ack_signature_malformed"
    try:
        ok = scheme(peer["algorithm"]).load_public(peer["public_key"]).verify(signature, _ack_signing_string(ack))
    except (KeyError, TypeError, ValueError):
        return "ack_malformed"
    return None if ok else "ack_bad_signature"
