"""The consent step of the authorization code grant, as data the API layer renders.

``consent_prompt`` checks an authorization request. When the client or its redirect URI
is wrong, the answer is ``AuthorizationRefused`` and the browser is never sent anywhere
(RFC 6749 section 4.1.2.1); other errors go back to the verified redirect URI; a good
request becomes a ``ConsentPrompt``: who asks, for what, and the parameters the consent
form carries back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from authlib.oauth2.rfc6749.errors import OAuth2Error

from casset_rights.auth.requests import HttpRequest, OAuthResponse
from casset_rights.auth.scopes import OAUTH_SCOPES, scope_set

if TYPE_CHECKING:
    from casset_rights.auth.server import CassetAuthorizationServer

CARRIED = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
           "code_challenge_method", "resource")


class AuthorizationRefused(msgspec.Struct, frozen=True):
    error: str
    description: str


class ConsentPrompt(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    client_name: str
    client_kind: str
    verified: bool
    redirect_uri: str
    scopes: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, str], ...]
    grant: Any
    error: str | None = None


def http_value(http: HttpRequest, name: str) -> str | None:
    pairs = http.form if http.method == "POST" else http.query
    return next((v for k, v in pairs if k == name), None)


def consent_prompt(server: CassetAuthorizationServer,
                   http: HttpRequest) -> ConsentPrompt | AuthorizationRefused | OAuthResponse:
    try:
        grant = server.get_consent_grant(request=http)
    except OAuth2Error as error:
        client = server.query_client(http_value(http, "client_id") or "")
        # Errors go back only to a verified redirect URI of a client an operator created:
        # anyone may register a client with its own redirect URI, which would make this
        # an open redirector (RFC 9700 section 4.11.2); those get the refusal page.
        if error.redirect_uri and client is not None and client.check_response_type("code") \
                and client.created_by == "operator":
            return server.handle_error_response(None, error)  # 302 with error & state
        return AuthorizationRefused(error=error.error or "invalid_request",
                                    description=error.description or "")
    except ValueError:
        return AuthorizationRefused(error="invalid_request",
                                    description="The request has characters OAuth does not allow.")
    request = grant.request
    client = request.client
    params = tuple((name, request.payload.data[name]) for name in CARRIED
                   if request.payload.data.get(name))
    return ConsentPrompt(
        client_id=client.client_id, client_name=client.name, client_kind=client.kind,
        verified=client.attributes.get("verified") is True, redirect_uri=grant.redirect_uri,
        scopes=tuple((s, OAUTH_SCOPES[s]) for s in sorted(scope_set(request.scope))),
        params=params, grant=grant)
