"""Compact JWS with EdDSA (Ed25519), written directly on ``cryptography``.

The algorithm is pinned: a token whose header names anything but ``EdDSA`` is refused
before any key is touched, so ``alg: none`` and algorithm-confusion tokens never verify.
"""

from __future__ import annotations

from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from casset_rights.errors import ReceiptInvalid
from casset_rights.receipts.keys import SigningKey, b64url, b64url_decode

_encode = msgspec.json.encode


def sign_compact(payload: dict[str, Any], key: SigningKey, *, typ: str) -> str:
    header = {"alg": "EdDSA", "kid": key.kid, "typ": typ}
    signing_input = b64url(_encode(header)) + "." + b64url(_encode(payload))
    signature = key.private_key.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64url(signature)


def read_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Split a compact JWS into header, payload, signing input and signature.

    Raises ReceiptInvalid("malformed: …") when it is not three base64url JSON parts.
    """
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ReceiptInvalid("malformed: a compact JWS has three dot-separated parts")
    try:
        header = msgspec.json.decode(b64url_decode(parts[0]))
        payload = msgspec.json.decode(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, msgspec.DecodeError) as exc:
        raise ReceiptInvalid(f"malformed: {exc}") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ReceiptInvalid("malformed: header and payload must be JSON objects")
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def verify_compact(
    token: str, public_keys: dict[str, Ed25519PublicKey], *, typ: str | None = None
) -> dict[str, Any]:
    """Verify and return the payload. Raises ReceiptInvalid saying exactly why not:
    malformed, unsupported algorithm, wrong type, unknown key, or bad signature."""
    header, payload, signing_input, signature = read_unverified(token)
    if header.get("alg") != "EdDSA":
        raise ReceiptInvalid(f"unsupported algorithm {header.get('alg')!r}: only EdDSA is accepted")
    if typ is not None and header.get("typ") != typ:
        raise ReceiptInvalid(f"wrong type {header.get('typ')!r}: expected {typ!r}")
    kid = header.get("kid")
    key = public_keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise ReceiptInvalid(f"unknown key: no published key has kid {kid!r}")
    try:
        key.verify(signature, signing_input)
    except InvalidSignature:
        raise ReceiptInvalid("bad signature: the signature does not match the content") from None
    return payload
