"""License tokens: the JWS a licensee presents to prove its license.

Like RSL's ``Authorization: License <token>`` scheme, the token travels with the use; a
platform checks it offline against the service's JWKS (``verify_license_token``) and
asks ``POST /v1/licenses/introspect`` for the live status (revocation). The type is its
own (``casset-license+jws``), so a receipt or an access token never passes for a license
and a license never passes for a receipt.
"""

from __future__ import annotations

from typing import Any

import msgspec

from casset_rights.errors import ReceiptInvalid
from casset_rights.licenses.models import Grant
from casset_rights.receipts.jws import sign_compact, verify_compact
from casset_rights.receipts.keys import SigningKey
from casset_rights.receipts.verify import keys_from_jwks

LICENSE_TYP = "casset-license+jws"


def license_claims(grant: Grant, *, issuer: str) -> dict[str, Any]:
    """The token's payload: who holds what, on which resource, on which terms, when."""
    route = grant.route
    claims: dict[str, Any] = {
        "iss": issuer,
        "jti": grant.id,
        "sub": grant.licensee,
        "iat": grant.granted_at_ms // 1000,
        "nbf": grant.granted_at_ms // 1000,
        "licensee": grant.principal,
        "licensor": grant.artist_id,
        "resource": grant.resource,
        "scopes": list(grant.scopes),
        "route": {"name": route.name, "type": route.type, "policy": route.policy,
                  "policy_hash": route.policy_hash},
        "terms": msgspec.to_builtins(route),
        "manifest_hash": grant.manifest_hash,
        "quote": grant.quote_id,
    }
    if grant.expires_at_ms is not None:
        claims["exp"] = grant.expires_at_ms // 1000
    return claims


def sign_license(grant: Grant, key: SigningKey, *, issuer: str) -> str:
    return sign_compact(license_claims(grant, issuer=issuer), key, typ=LICENSE_TYP)


def verify_license_token(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Check a license token's signature and type against a JWKS; return its claims.

    Raises ReceiptInvalid saying why not (malformed, algorithm, type, key, signature).
    This says the service issued the license; whether it is still in force is the
    introspection endpoint's answer (a license may have been revoked since).
    """
    claims = verify_compact(token, keys_from_jwks(jwks), typ=LICENSE_TYP)
    for claim in ("iss", "jti", "sub", "resource", "scopes"):
        if claim not in claims:
            raise ReceiptInvalid(f"malformed: the license has no {claim!r}")
    return claims
