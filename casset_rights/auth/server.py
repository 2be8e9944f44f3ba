"""The authorization server: authlib's ``AuthorizationServer`` on our stores.

authlib is synchronous and touches the database, so the API layer calls these methods in
a worker thread, after reading the request body on the event loop. Nothing here knows the
web framework: requests come in as ``HttpRequest``, answers go out as ``OAuthResponse``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error

from casset_rights.auth.assertions import METHOD as PRIVATE_KEY_JWT
from casset_rights.auth.assertions import PrivateKeyJWT
from casset_rights.auth.clients import ClientStore, OAuthClient
from casset_rights.auth.codes import CodeStore
from casset_rights.auth.credentials import new_secret
from casset_rights.auth.endpoints import IntrospectionEndpoint, RevocationEndpoint
from casset_rights.auth.grants import (
    ArtistUser,
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from casset_rights.auth.requests import CassetOAuth2Request, HttpRequest, OAuthResponse
from casset_rights.auth.scopes import OAUTH_SCOPES
from casset_rights.auth.tokens import AccessTokenIssuer, MintedToken, TokenStore
from casset_rights.auth.validation import AccessTokenValidator
from casset_rights.receipts.keys import b64url_decode

logger = logging.getLogger("casset_rights.auth")


class CassetAuthorizationServer(AuthorizationServer):
    def __init__(self, *, clients: ClientStore, codes: CodeStore, tokens: TokenStore,
                 issuer: AccessTokenIssuer, validator: AccessTokenValidator,
                 client_assertions: PrivateKeyJWT, issuer_url: str, audience: str,
                 audiences: tuple[str, ...]) -> None:
        super().__init__(scopes_supported=list(OAUTH_SCOPES))
        self.clients = clients
        self.codes = codes
        self.tokens = tokens
        self.token_issuer = issuer
        self.validator = validator
        self.issuer_url = issuer_url
        self.audience = audience  # of a token whose request names no resource
        self.audiences = audiences  # every resource a token may be asked for (RFC 8707)
        self.register_token_generator("default", self.mint_token)
        self.register_client_auth_method(PRIVATE_KEY_JWT, client_assertions)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(RevocationEndpoint)

    # -- what authlib asks of an integration ---------------------------------------------

    def query_client(self, client_id: str) -> OAuthClient | None:
        return self.clients.find(client_id)

    def create_oauth2_request(self, request: Any) -> CassetOAuth2Request:
        if isinstance(request, CassetOAuth2Request):
            return request
        return CassetOAuth2Request(request)

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("registration is handled by AuthService.register")

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResponse:
        return OAuthResponse(status, body if body is not None else "",
                             tuple((str(k), str(v)) for k, v in headers or ()))

    def handle_error_response(self, request: Any, error: OAuth2Error) -> OAuthResponse:
        # authlib's own, typed: it goes through handle_response above.
        response: OAuthResponse = super().handle_error_response(request, error)
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Record the access token (and the refresh token's hash) just generated."""
        claims = _own_claims(token["access_token"])
        grant_id = None
        if request.authorization_code is not None:
            grant_id = request.authorization_code.grant_id
        elif request.refresh_token is not None:
            grant_id = request.refresh_token.grant_id
        minted = MintedToken(token=token["access_token"], jti=claims["jti"],
                             issued_at=claims["iat"], expires_at=claims["exp"])
        self.tokens.record_access(minted, client_id=claims["client_id"], subject=claims["sub"],
                                  scope=claims["scope"], grant_id=grant_id)
        if "refresh_token" in token and grant_id is not None:
            self.tokens.save_refresh(token["refresh_token"], client_id=claims["client_id"],
                                     artist_id=request.user.artist_id, grant_id=grant_id,
                                     scope=claims["scope"])

    def mint_token(self, *, grant_type: str, client: OAuthClient, user: Any = None,
                   scope: str | None = None, expires_in: int | None = None,
                   include_refresh_token: bool = True,
                   audience: str | None = None) -> dict[str, Any]:
        scope = scope or ""
        if isinstance(user, ArtistUser):
            # A partner acting for an artist: the artist is the principal.
            kind, subject, attributes = "artist", user.artist_id, {}
        elif client.kind == "artist" and client.artist_id:
            kind, subject, attributes = "artist", client.artist_id, dict(client.attributes)
        else:
            kind, subject, attributes = client.kind, client.client_id, dict(client.attributes)
        minted = self.token_issuer.mint(client_id=client.client_id, subject=subject, kind=kind,
                                        scope=scope, attributes=attributes,
                                        audience=audience or self.audience)
        token: dict[str, Any] = {"token_type": "Bearer", "access_token": minted.token,
                                 "expires_in": self.token_issuer.ttl_seconds, "scope": scope}
        if include_refresh_token and isinstance(user, ArtistUser):
            token["refresh_token"] = new_secret()
        return token

    # -- entry points (all synchronous; call them in a worker thread) -------------------

    def token_response(self, http: HttpRequest) -> OAuthResponse:
        return self.guarded(lambda: self.create_token_response(http))

    def introspection_response(self, http: HttpRequest) -> OAuthResponse:
        return self.guarded(lambda: self.create_endpoint_response("introspection", http))

    def revocation_response(self, http: HttpRequest) -> OAuthResponse:
        return self.guarded(lambda: self.create_endpoint_response("revocation", http))

    def guarded(self, call: Callable[[], OAuthResponse | None]) -> OAuthResponse:
        """Run an authlib call; every failure becomes an OAuth error response."""
        try:
            response = call()
        except OAuth2Error as error:
            response = self.handle_error_response(None, error)
        except ValueError:
            # authlib builds some error descriptions from request values and refuses
            # characters RFC 6749 does not allow there: that is a bad request.
            logger.info("oauth: refused a request authlib could not describe", exc_info=True)
            response = self.handle_error_response(
                None, InvalidRequestError("The request has characters OAuth does not allow."))
        assert response is not None
        return response


def _own_claims(token: str) -> dict[str, Any]:
    """The claims of an access token this server minted a moment ago, in this call, read
    back to record it (never used on a token that came from outside)."""
    claims: dict[str, Any] = msgspec.json.decode(b64url_decode(token.split(".")[1]))
    return claims
