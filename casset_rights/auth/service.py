"""``AuthService``: the OAuth 2.0 authorization server and the resource-side token check,
built once from ``Settings`` (``open_auth``) and used by the API layer and the CLI.

Synchronous methods that touch the database (every OAuth endpoint) are meant to run in a
worker thread; ``authenticate`` (the request path) is memory-only apart from a revocation
refresh at most every ``revocation_refresh_seconds``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749.errors import OAuth2Error
from sqlalchemy import Engine

from casset_rights.auth.assertions import PrivateKeyJWT
from casset_rights.auth.clients import AttributeValue, ClientStore, NewClient
from casset_rights.auth.codes import CodeStore
from casset_rights.auth.consent import AuthorizationRefused, ConsentPrompt, consent_prompt
from casset_rights.auth.credentials import check_secret
from casset_rights.auth.grants import ArtistUser
from casset_rights.auth.registration import (
    AUTH_METHODS,
    PUBLIC_METHOD,
    check_operator_client,
    parse_agent_registration,
)
from casset_rights.auth.replay import ReplayCache, replay_cache
from casset_rights.auth.requests import HttpRequest, OAuthResponse
from casset_rights.auth.revocation import RevokedTokens
from casset_rights.auth.scopes import (
    DELEGABLE_SCOPES,
    KIND_SCOPES,
    MACHINE_SCOPES,
    OAUTH_SCOPES,
    scope_text,
)
from casset_rights.auth.server import CassetAuthorizationServer
from casset_rights.auth.tokens import ACCESS_TOKEN_ALG, AccessTokenIssuer, TokenStore
from casset_rights.auth.validation import AccessTokenValidator
from casset_rights.config import Settings
from casset_rights.errors import InvalidInput
from casset_rights.principal import Principal
from casset_rights.receipts.keys import KeyStore

TOKEN_PATH = "/oauth/token"
AUTHORIZE_PATH = "/oauth/authorize"
INTROSPECT_PATH = "/oauth/introspect"
REVOKE_PATH = "/oauth/revoke"
REGISTER_PATH = "/oauth/register"
METADATA_PATH = "/.well-known/oauth-authorization-server"
MCP_PATH = "/mcp"  # the MCP endpoint: a protected resource of its own (RFC 8707, 9728)
ASSERTION_ALGS = ["ES256", "EdDSA", "PS256", "RS256"]

ConsentStep = ConsentPrompt | AuthorizationRefused | OAuthResponse


class AuthService:
    def __init__(self, *, settings: Settings, clients: ClientStore, codes: CodeStore,
                 tokens: TokenStore, revoked: RevokedTokens, issuer: AccessTokenIssuer,
                 validator: AccessTokenValidator, replay: ReplayCache) -> None:
        self.settings = settings
        self.clients = clients
        self.tokens = tokens
        self.revoked = revoked
        self.validator = validator
        self.replay = replay
        base = settings.resolved_issuer
        self.issuer_url = base
        self.server = CassetAuthorizationServer(
            clients=clients, codes=codes, tokens=tokens, issuer=issuer, validator=validator,
            client_assertions=PrivateKeyJWT(
                audiences=[base + TOKEN_PATH, base], replay=replay,
                leeway_seconds=settings.token_leeway_seconds,
                max_age_seconds=settings.client_assertion_max_age_seconds),
            issuer_url=base, audience=settings.resolved_token_audience,
            audiences=resource_audiences(settings))

    # -- the request path -----------------------------------------------------------------

    @property
    def mcp_audience(self) -> str:
        return self.issuer_url + MCP_PATH

    def authenticate(self, bearer_token: str, *, address: str | None = None,
                     audience: str | None = None) -> Principal:
        """The principal of a bearer token meant for ``audience`` (the API's when None).
        Raises InvalidToken."""
        return self.validator.principal(bearer_token, address=address, audience=audience)

    # -- OAuth endpoints (synchronous: call in a worker thread) ---------------------------

    def token(self, http: HttpRequest) -> OAuthResponse:
        return self.server.token_response(http)

    def introspect(self, http: HttpRequest) -> OAuthResponse:
        return self.server.introspection_response(http)

    def revoke(self, http: HttpRequest) -> OAuthResponse:
        return self.server.revocation_response(http)

    def consent(self, http: HttpRequest) -> ConsentStep:
        """Check an authorization request (GET) and say what to ask the artist."""
        return consent_prompt(self.server, http)

    def decide(self, http: HttpRequest, *, approve: bool) -> ConsentStep:
        """The artist's answer (POST): the request is checked again from the form, the
        artist signs in with their artist client's id and secret, and the partner is sent
        back to its redirect URI with a code (or ``access_denied``). A failed sign-in
        asks again."""
        step = consent_prompt(self.server, http)
        if not isinstance(step, ConsentPrompt):
            return step
        grant = step.grant
        if not approve:
            return self.server.guarded(lambda: self.server.create_authorization_response(
                request=grant.request, grant_user=None, grant=grant))
        artist_id = self.sign_in_artist(http.form_value("artist_client_id") or "",
                                        http.form_value("artist_secret") or "")
        if artist_id is None:
            return msgspec.structs.replace(
                step, error="The artist client id or secret is not right.")
        user = ArtistUser(artist_id=artist_id)
        return self.server.guarded(lambda: self.server.create_authorization_response(
            request=grant.request, grant_user=user, grant=grant))

    def sign_in_artist(self, client_id: str, secret: str) -> str | None:
        """The artist an artist client's credentials stand for, or None (after the same
        work either way, so a wrong id is not told apart from a wrong secret by time)."""
        client = self.clients.find(client_id) if client_id else None
        if client is None or client.kind != "artist" or not client.artist_id:
            check_secret(secret, None)
            return None
        return client.artist_id if client.check_client_secret(secret) else None

    def register(self, document: Any) -> OAuthResponse:
        """Dynamic registration of an agent (RFC 7591): 201 with the client id and secret
        (shown once; a public client of the code grant has none), or 400 with
        ``invalid_client_metadata``/``invalid_redirect_uri``."""
        if not self.settings.registration_enabled:
            return OAuthResponse(403, {"error": "access_denied",
                                       "error_description": "Registration is closed."},
                                 tuple(default_json_headers))
        try:
            reg = parse_agent_registration(document)
        except OAuth2Error as error:
            return self.server.handle_error_response(None, error)
        new = self.clients.create(
            kind="agent", name=reg.client_name, created_by="registration",
            auth_method=reg.token_endpoint_auth_method, grant_types=reg.grant_types,
            scope=reg.scope or scope_text(MACHINE_SCOPES), redirect_uris=reg.redirect_uris,
            attributes={k: v for k, v in (("operator", reg.operator),
                                          ("purpose", reg.purpose)) if v is not None},
            jwks=reg.jwks,
            registration={k: v for k, v in msgspec.to_builtins(reg).items() if v is not None})
        return OAuthResponse(201, client_information(new), tuple(default_json_headers))

    # -- operators (the CLI) ---------------------------------------------------------------

    def create_client(self, *, kind: str, name: str, client_id: str | None = None,
                      artist_id: str | None = None, scope: str | None = None,
                      redirect_uris: list[str] | None = None,
                      grant_types: list[str] | None = None,
                      auth_method: str = "client_secret_basic",
                      jwks: dict[str, Any] | None = None,
                      attributes: dict[str, AttributeValue] | None = None) -> NewClient:
        """Create a client as an operator. A partner's name is its verified name (the
        ``name`` attribute, with ``verified: true``). Raises InvalidInput."""
        if kind == "artist" and not artist_id:
            raise InvalidInput("an artist client names its artist (--artist)")
        if kind != "artist" and artist_id:
            raise InvalidInput("only artist clients name an artist")
        redirect_uris = list(redirect_uris or [])
        if grant_types is None:
            grant_types = ["client_credentials"]
            if kind == "partner" and redirect_uris:
                grant_types += ["authorization_code", "refresh_token"]
        if scope is None:
            scope = scope_text(DELEGABLE_SCOPES if kind == "partner" else KIND_SCOPES.get(kind, ()))
        given = dict(attributes or {})
        if kind == "partner":
            given = {"name": name, "verified": True, **given}
        try:
            check_operator_client(kind=kind, grant_types=grant_types, scope=scope,
                                  redirect_uris=redirect_uris, auth_method=auth_method,
                                  jwks=jwks)
        except OAuth2Error as error:
            raise InvalidInput(error.description or error.error) from None
        return self.clients.create(
            kind=kind, name=name, created_by="operator", auth_method=auth_method,
            grant_types=grant_types, scope=scope, redirect_uris=redirect_uris,
            attributes=given, artist_id=artist_id, jwks=jwks, client_id=client_id)

    def disable_client(self, client_id: str) -> None:
        """Refuse the client and revoke every token it holds. Raises NotFound."""
        self.clients.disable(client_id)
        self.tokens.revoke_client(client_id)

    # -- discovery ---------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """Authorization server metadata (RFC 8414)."""
        base = self.issuer_url
        methods = list(AUTH_METHODS)
        return {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZE_PATH,
            "token_endpoint": base + TOKEN_PATH,
            "introspection_endpoint": base + INTROSPECT_PATH,
            "revocation_endpoint": base + REVOKE_PATH,
            "registration_endpoint": base + REGISTER_PATH,
            "jwks_uri": base + "/.well-known/jwks.json",
            "scopes_supported": list(OAUTH_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["client_credentials", "authorization_code",
                                      "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [*methods, PUBLIC_METHOD],
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
            "introspection_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            "access_token_signing_alg_values_supported": [ACCESS_TOKEN_ALG],
            "resource": self.settings.resolved_token_audience,
            "service_documentation": base + "/schema",
        }

    def close(self) -> None:
        self.revoked.stop()
        self.replay.close()


def client_information(new: NewClient) -> dict[str, Any]:
    """The registration response (RFC 7591 section 3.2.1)."""
    c = new.client
    body: dict[str, Any] = {
        "client_id": c.client_id, "client_id_issued_at": c.created_at,
        "client_name": c.name, "token_endpoint_auth_method": c.auth_method,
        "grant_types": list(c.grant_types),
        "response_types": ["code"] if "authorization_code" in c.grant_types else [],
        "redirect_uris": list(c.redirect_uris), "scope": c.scope,
        "operator": c.attributes.get("operator"), "purpose": c.attributes.get("purpose"),
    }
    if new.secret is not None:
        body.update(client_secret=new.secret, client_secret_expires_at=0)
    if c.jwks is not None:
        body["jwks"] = c.jwks
    return body


def resource_audiences(settings: Settings) -> tuple[str, ...]:
    """The resources tokens are issued for: the API (the default) and the MCP endpoint."""
    return (settings.resolved_token_audience, settings.resolved_issuer + MCP_PATH)


def open_auth(settings: Settings, *, engine: Engine, keys: KeyStore) -> AuthService:
    """Build the authorization server and the token validator on ``engine``."""
    revoked = RevokedTokens(engine, refresh_seconds=settings.revocation_refresh_seconds)
    issuer = AccessTokenIssuer(keys, issuer=settings.resolved_issuer,
                               audience=settings.resolved_token_audience,
                               ttl_seconds=settings.access_token_ttl_seconds)
    validator = AccessTokenValidator(keys, issuer=settings.resolved_issuer,
                                     audiences=resource_audiences(settings),
                                     leeway_seconds=settings.token_leeway_seconds,
                                     revoked=revoked)
    tokens = TokenStore(engine, revoked=revoked,
                        refresh_ttl_seconds=settings.refresh_token_ttl_seconds)
    return AuthService(
        settings=settings, clients=ClientStore(engine),
        codes=CodeStore(engine, ttl_seconds=settings.authorization_code_ttl_seconds),
        tokens=tokens, revoked=revoked, issuer=issuer, validator=validator,
        replay=replay_cache(settings))
