"""``private_key_jwt`` client authentication (RFC 7523 section 2.2, RFC 7521).

The client signs a short JWT with a key from the JWKS it registered; we verify it with
PyJWT, every option explicit:

* the algorithm is the one the registered key type allows (RS256/PS256, ES256 or EdDSA),
  never the header's choice alone, and never an HMAC;
* ``iss`` and ``sub`` are the client id; ``aud`` is our token endpoint or our issuer;
* ``exp`` and ``jti`` are required, and ``exp`` may be at most ``max_age_seconds`` ahead;
* the ``jti`` is accepted once: it is kept in the replay cache until ``exp`` + leeway,
  the moment from which the ``exp`` check refuses the assertion on its own.

Failures are authlib's ``invalid_client`` with a description of the failed check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import jwt
from authlib.oauth2.rfc6749.errors import InvalidClientError
from jwt import PyJWK

from casset_rights.auth.registration import key_algorithms
from casset_rights.auth.replay import ReplayCache

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
METHOD = "private_key_jwt"
MAX_ASSERTION_LENGTH = 8192


class PrivateKeyJWT:
    """An authlib client authentication method: ``(query_client, request) -> client``."""

    def __init__(self, *, audiences: Sequence[str], replay: ReplayCache, leeway_seconds: int,
                 max_age_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._audiences = list(audiences)
        self._replay = replay
        self._leeway = leeway_seconds
        self._max_age = max_age_seconds
        self._clock = clock

    def __call__(self, query_client: Callable[[str], Any], request: Any) -> Any:
        form = request.form
        assertion = form.get("client_assertion")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return None
        client_id, header = _unverified_subject(assertion)
        if form.get("client_id") not in (None, client_id):
            raise InvalidClientError(description="client_id does not match the assertion.")
        client = query_client(client_id)
        if client is None or client.auth_method != METHOD or not client.jwks:
            raise InvalidClientError(
                description="The client does not exist or does not use private_key_jwt.")
        key, algorithms = _key_for(client.jwks, header)
        claims = self._verify(assertion, key=key, algorithms=algorithms, client_id=client_id)
        now = self._clock()
        if claims["exp"] - now > self._max_age + self._leeway:
            raise InvalidClientError(
                description=f"A client assertion may live at most {self._max_age} seconds.")
        jti = claims["jti"]
        if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
            raise InvalidClientError(description="The assertion jti must be 8 to 256 characters.")
        ttl = math.ceil(claims["exp"] - now + self._leeway)
        if not self._replay.first_use(f"{client_id}:{jti}", ttl_seconds=ttl):
            raise InvalidClientError(description="The client assertion was used before (jti).")
        return client

    def _verify(self, assertion: str, *, key: Any, algorithms: list[str],
                client_id: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                assertion, key,
                algorithms=algorithms,
                audience=self._audiences,
                issuer=client_id,
                leeway=self._leeway,
                options={"require": ["iss", "sub", "aud", "exp", "jti"],
                         "verify_signature": True, "verify_exp": True, "verify_nbf": True,
                         "verify_iat": True, "verify_aud": True, "verify_iss": True},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidClientError(description="The client assertion has expired.") from None
        except jwt.ImmatureSignatureError:
            raise InvalidClientError(description="The client assertion is not valid yet.") \
                from None
        except jwt.InvalidAudienceError:
            raise InvalidClientError(
                description="The client assertion aud must be the token endpoint.") from None
        except jwt.InvalidIssuerError:
            raise InvalidClientError(
                description="The client assertion iss must be the client id.") from None
        except jwt.InvalidSignatureError:
            raise InvalidClientError(
                description="The client assertion signature does not verify.") from None
        except jwt.InvalidTokenError:
            raise InvalidClientError(description="The client assertion is malformed.") from None


def _unverified_subject(assertion: str) -> tuple[str, dict[str, Any]]:
    """The ``sub`` (which client) and header, read only to find the key to verify with."""
    if not isinstance(assertion, str) or len(assertion) > MAX_ASSERTION_LENGTH:
        raise InvalidClientError(description="The client assertion is not a JWT.")
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise InvalidClientError(description="The client assertion is not a JWT.") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidClientError(description="The client assertion has no sub.")
    return sub, header


def _key_for(jwks: dict[str, Any], header: dict[str, Any]) -> tuple[Any, list[str]]:
    keys = jwks.get("keys", [])
    kid = header.get("kid")
    if kid is not None:
        keys = [k for k in keys if k.get("kid") == kid]
    if len(keys) != 1:
        raise InvalidClientError(
            description="The assertion kid does not name exactly one registered key.")
    jwk = keys[0]
    algorithms = list(key_algorithms(jwk))
    alg = header.get("alg")
    if alg not in algorithms:
        raise InvalidClientError(
            description="The assertion alg is not one the registered key may use.")
    return PyJWK(jwk, algorithm=alg).key, [alg]
