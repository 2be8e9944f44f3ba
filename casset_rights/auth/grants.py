"""The grants: client_credentials, authorization_code with PKCE (S256 only), and
refresh_token with rotation. authlib runs the protocol; these say where things live."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, ClassVar

import msgspec
from authlib.common.encoding import to_unicode, urlsafe_b64encode
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc7636 import CodeChallenge

from casset_rights.auth.scopes import scope_set, scope_text

# Every grant's token request accepts the same three client authentication methods;
# which one a client may use is decided by its registration (check_endpoint_auth_method).
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
# The code grant (and its refresh tokens) also serves public clients (RFC 6749 section
# 2.1; registered with ``none``): PKCE binds the code to the client that asked for it.
CODE_AUTH_METHODS = [*TOKEN_AUTH_METHODS, "none"]


class ArtistUser(msgspec.Struct, frozen=True):
    """The resource owner of the authorization code grant: an artist."""

    artist_id: str


class InvalidTargetError(OAuth2Error):
    """RFC 8707 section 2: the ``resource`` is not one this server issues tokens for."""

    error = "invalid_target"
    status_code = 400


def requested_audience(server: Any, request: Any) -> str:
    """The audience of the token to mint: the ``resource`` the client names (RFC 8707;
    MCP clients name the MCP endpoint), one of the resources this server protects, else
    the API. Raises InvalidTargetError."""
    resource = request.payload.data.get("resource")
    if not resource:
        return str(server.audience)
    if resource not in server.audiences:
        raise InvalidTargetError("resource must be one of " + ", ".join(server.audiences) + ".")
    return str(resource)


class _ResourceIndicators:
    """Token requests may name a ``resource`` (RFC 8707): it becomes the token's ``aud``."""

    request: Any
    server: Any
    GRANT_TYPE: str

    def validate_resource(self) -> None:
        self.request.audience = requested_audience(self.server, self.request)

    def generate_token(self, user: Any = None, scope: str | None = None,
                       grant_type: str | None = None, expires_in: int | None = None,
                       include_refresh_token: bool = True) -> dict[str, Any]:
        token: dict[str, Any] = self.server.mint_token(
            grant_type=grant_type or self.GRANT_TYPE, client=self.request.client, user=user,
            scope=scope, include_refresh_token=include_refresh_token,
            audience=getattr(self.request, "audience", None) or self.server.audience)
        return token


class ClientCredentialsGrant(_ResourceIndicators, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        self.validate_resource()
        asked = scope_set(self.request.payload.scope)
        allowed = self.client.machine_scopes
        if not asked <= allowed:
            raise InvalidScopeError(
                "This client may ask for " + (scope_text(allowed) or "no scope") + ".")
        self.request.scope = scope_text(asked or allowed)

    def create_token_response(self) -> tuple[int, Any, Any]:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class AuthorizationCodeGrant(_ResourceIndicators, grants.AuthorizationCodeGrant):
    """For partners an artist authorises. Codes live ``authorization_code_ttl_seconds``
    and are redeemed once; a second redemption revokes the tokens of the first."""

    TOKEN_ENDPOINT_AUTH_METHODS = CODE_AUTH_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(request: Any, client: Any) -> str:
        # Required in every request and compared exactly; the value is not echoed in the
        # error (authlib would, and a quote in it would turn the error into a crash).
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("Missing redirect_uri.")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The redirect_uri is not registered for this client.")
        return str(redirect_uri)

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        try:
            requested_audience(self.server, self.request)
        except InvalidTargetError as error:
            error.redirect_uri, error.state = redirect_uri, self.request.payload.state
            raise
        return redirect_uri

    def validate_token_request(self) -> None:
        # The resource is checked before the code is claimed, so an unknown one leaves
        # the code redeemable.
        self.validate_resource()
        super().validate_token_request()
        # The code buys tokens for the audience its authorization named, and no other
        # (RFC 8707 section 2.2): without a resource the token is for that audience; a
        # token request naming another is refused (the code is spent, as any code
        # presented once).
        bound = getattr(self.request.authorization_code, "resource", None)
        if bound is not None:
            if self.request.payload.data.get("resource") and self.request.audience != bound:
                raise InvalidTargetError("resource must be the one the authorization named.")
            self.request.audience = bound

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        self.server.codes.save(
            code, client_id=request.client.client_id, artist_id=request.user.artist_id,
            redirect_uri=request.payload.redirect_uri, scope=request.scope,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            resource=requested_audience(self.server, request))

    def query_authorization_code(self, code: str, client: Any) -> Any:
        redemption = self.server.codes.redeem(code, client_id=client.client_id)
        if redemption.reused_grant is not None:
            self.server.tokens.revoke_grant(redemption.reused_grant)
        return redemption.code

    def delete_authorization_code(self, authorization_code: Any) -> None:
        # Nothing to do: redeeming claimed the code, and its row stays so that a second
        # presentation is recognised as reuse.
        return None

    def authenticate_user(self, authorization_code: Any) -> ArtistUser:
        return ArtistUser(artist_id=authorization_code.artist_id)


class RefreshTokenGrant(_ResourceIndicators, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CODE_AUTH_METHODS
    # Rotation: every exchange returns a new refresh token and retires the old one.
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self) -> None:
        self.validate_resource()  # before the refresh token is exchanged
        super().validate_token_request()

    def authenticate_refresh_token(self, refresh_token: str) -> Any:
        exchange = self.server.tokens.exchange(refresh_token,
                                               client_id=self.request.client.client_id)
        if exchange.reused_grant is not None:
            self.server.tokens.revoke_grant(exchange.reused_grant)
        return exchange.record

    def authenticate_user(self, refresh_token: Any) -> ArtistUser:
        return ArtistUser(artist_id=refresh_token.artist_id)

    def revoke_old_credential(self, refresh_token: Any) -> None:
        # Already retired: exchanging marked it used.
        return None


def _s256(verifier: str) -> str:
    text: str = to_unicode(urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()))
    return text


def _compare_s256(code_verifier: str, code_challenge: str) -> bool:
    return hmac.compare_digest(_s256(code_verifier), code_challenge)


class S256CodeChallenge(CodeChallenge):
    """PKCE (RFC 7636), required for every authorization request, S256 only: ``plain``
    would hand the verifier to whoever sees the authorization request."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Callable[[str, str], bool]]] = {
        "S256": _compare_s256,
    }

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256; plain is refused.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing code_verifier.")
        super().validate_code_verifier(grant, result)
