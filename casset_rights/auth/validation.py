"""Resource-side validation of access tokens: bearer token in, Principal out.

Every check is explicit (PyJWT with options spelled out):

* the algorithm is pinned to EdDSA: ``alg: none``, HS256 "signed" with our public key and
  every other algorithm are refused before any key is touched;
* ``typ`` must be ``at+jwt`` (RFC 9068), so a receipt or license signed by the same key is
  never taken for an access token;
* ``aud`` must be exactly one string, the audience of the resource asked (the API's, or
  the MCP endpoint's: RFC 8707), and ``iss`` our issuer;
* ``exp``, ``iat``, ``jti``, ``sub``, ``client_id`` and ``scope`` are required; ``exp``,
  ``iat`` and ``nbf`` are checked with ``leeway`` seconds for clock skew (small, and far
  below the token lifetime);
* the ``jti`` must not be in the revoked set.

A token that passed is cached (by its text) until it expires, so the signature is
verified once per token, not once per request; the revocation check still runs each time.
Raises InvalidToken, whose detail says which check failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from casset_rights.auth.revocation import RevokedTokens
from casset_rights.auth.tokens import (
    ACCESS_TOKEN_ALG,
    ACCESS_TOKEN_TYP,
    ATTRIBUTES_CLAIM,
    KIND_CLAIM,
)
from casset_rights.errors import InvalidToken, NotFound
from casset_rights.principal import Principal
from casset_rights.receipts.keys import KeyStore

MAX_TOKEN_LENGTH = 8192
TOKEN_KINDS = frozenset({"agent", "partner", "artist"})
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"]


class _Verified(msgspec.Struct, frozen=True):
    principal: Principal
    jti: str
    expires_at: int
    audience: str


class AccessTokenValidator:
    def __init__(self, keys: KeyStore, *, issuer: str, audiences: tuple[str, ...],
                 leeway_seconds: int,
                 revoked: RevokedTokens, clock: Callable[[], float] = time.time,
                 cache_size: int = 4096) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audiences = audiences  # the first is the API's, the default
        self._leeway = leeway_seconds
        self._revoked = revoked
        self._clock = clock
        self._cache_size = cache_size
        self._cache: dict[str, _Verified] = {}
        self._public_keys: dict[str, Ed25519PublicKey] = {}

    def principal(self, token: str, *, address: str | None = None,
                  audience: str | None = None) -> Principal:
        """The principal a bearer token meant for ``audience`` (the API's when None)
        stands for. Raises InvalidToken."""
        verified = self._cache.get(token)
        if verified is None or self._clock() > verified.expires_at + self._leeway:
            verified = self._verify(token)
        if verified.audience != (audience or self._audiences[0]):
            raise InvalidToken("the access token is meant for another audience")
        if self._revoked.is_revoked(verified.jti):
            raise InvalidToken("the access token has been revoked")
        if address is None:
            return verified.principal
        return msgspec.structs.replace(verified.principal, address=address)

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims (signature, typ, iss, times, ``aud`` one of ours; not
        revocation)."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken("the bearer token is not a JWT")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("the bearer token is not a JWT") from None
        if header.get("alg") != ACCESS_TOKEN_ALG:
            raise InvalidToken("access tokens are signed with EdDSA; this one is not")
        if header.get("typ") != ACCESS_TOKEN_TYP:
            raise InvalidToken("the token is not an access token (typ at+jwt)")
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key,
                # Pinned: the header's alg is never trusted to pick the verifier.
                algorithms=[ACCESS_TOKEN_ALG],
                audience=list(self._audiences),
                issuer=self._issuer,
                # Clock skew between servers only; tokens live 15 minutes.
                leeway=self._leeway,
                # Any of our audiences here (a list, so not strict_aud); a single string
                # is required below and matched to the resource asked by ``principal``.
                options={"require": REQUIRED_CLAIMS, "strict_aud": False,
                         "verify_signature": True, "verify_exp": True, "verify_nbf": True,
                         "verify_iat": True, "verify_aud": True, "verify_iss": True},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the access token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the access token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the access token is meant for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the access token comes from another issuer") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the access token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the access token has no {exc.claim} claim") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("the access token is malformed") from None
        if not isinstance(claims["aud"], str):
            raise InvalidToken("the access token names more than one audience")
        return claims

    def _verify(self, token: str) -> _Verified:
        claims = self.claims(token)
        verified = _Verified(principal=principal_from_claims(claims), jti=claims["jti"],
                             expires_at=int(claims["exp"]), audience=claims["aud"])
        if len(self._cache) >= self._cache_size:
            # Drop the oldest entry (dicts keep insertion order).
            self._cache.pop(next(iter(self._cache)), None)
        self._cache[token] = verified
        return verified

    def _key(self, kid: object) -> Ed25519PublicKey:
        if not isinstance(kid, str):
            raise InvalidToken("the access token names no signing key")
        key = self._public_keys.get(kid)
        if key is None:
            try:
                key = self._keys.public_key(kid)
            except NotFound:
                raise InvalidToken("the access token is signed by an unknown key") from None
            self._public_keys[kid] = key
        return key


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Raises InvalidToken when the principal claims are malformed."""
    kind = claims.get(KIND_CLAIM)
    client_id, subject, scope = claims["client_id"], claims["sub"], claims["scope"]
    attributes = claims.get(ATTRIBUTES_CLAIM, {})
    if kind not in TOKEN_KINDS or not all(isinstance(v, str)
                                          for v in (client_id, subject, scope)):
        raise InvalidToken("the access token's principal claims are malformed")
    if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str | bool | int)
            for k, v in attributes.items()):
        raise InvalidToken("the access token's attributes are malformed")
    return Principal(kind=kind, client_id=client_id,
                     subject=subject if kind == "artist" else None,
                     attributes=attributes, scopes=frozenset(scope.split()))
