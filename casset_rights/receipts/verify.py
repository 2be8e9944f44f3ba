"""Offline verification of receipts against a published JWKS.

``verify_receipt`` returns the payload or raises ReceiptInvalid with the exact reason;
it needs nothing from the service but its JWKS document.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from casset_rights.errors import ReceiptInvalid
from casset_rights.receipts.jws import verify_compact
from casset_rights.receipts.keys import public_key_from_jwk, thumbprint
from casset_rights.receipts.service import RECEIPT_TYP


def keys_from_jwks(jwks: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS document by kid. Raises ReceiptInvalid when the
    document is not a JWKS; keys of other types are passed over."""
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(entries, list):
        raise ReceiptInvalid("malformed JWKS: expected an object with a 'keys' list")
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in entries:
        try:
            public = public_key_from_jwk(jwk)
        except (ValueError, TypeError, AttributeError):
            continue
        # A kid is trusted only when it is the key's own thumbprint.
        kid = jwk.get("kid") or thumbprint(jwk)
        if kid == thumbprint(jwk):
            keys[kid] = public
    return keys


def verify_receipt(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Verify a receipt; return its payload or raise ReceiptInvalid saying why."""
    payload = verify_compact(token, keys_from_jwks(jwks), typ=RECEIPT_TYP)
    for claim in ("iss", "iat", "jti", "principal"):
        if claim not in payload:
            raise ReceiptInvalid(f"malformed: the payload has no {claim!r}")
    return payload
