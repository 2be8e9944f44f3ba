"""The OAuth 2.0 endpoints: token, authorize (with the consent page), introspection
(RFC 7662), revocation (RFC 7009), dynamic registration (RFC 7591) and the server's
metadata (RFC 8414).

Each handler reads the request on the event loop, then calls the authorization server in
a worker thread (authlib is synchronous and uses the database). Errors are OAuth's own
JSON (``error``, ``error_description``) as the RFCs require, not problem documents.
"""

from __future__ import annotations

from typing import Any

import msgspec
from anyio import to_thread
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec

from casset_rights.api.body import FORM, reads
from casset_rights.api.consent_page import PAGE_HEADERS, consent_page, refused_page
from casset_rights.api.deps import ServicesDep
from casset_rights.api.openapi import EVERY, read_by_hand, struct_body
from casset_rights.api.problems import problems
from casset_rights.api.ratelimit import charge
from casset_rights.api.schemas import (
    AuthServerMetadata,
    ClientInformation,
    ClientRegistration,
    ConsentForm,
    OAuthError,
    TokenAnswer,
    TokenForm,
    TokenIntrospection,
    TokenReferenceForm,
)
from casset_rights.auth.consent import AuthorizationRefused, ConsentPrompt
from casset_rights.auth.requests import HttpRequest, OAuthResponse, repeated_parameter
from casset_rights.auth.service import (
    AUTHORIZE_PATH,
    INTROSPECT_PATH,
    METADATA_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
)
from casset_rights.ratelimit import Quota
from casset_rights.services import Services

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OAuth's own error answers (RFC 6749 section 5.2), and the problems every route
    may answer first (a refused bearer token, the rate limit)."""
    described = {400: "The request is invalid (error says how)",
                 401: "The client failed to authenticate (invalid_client)",
                 402: "Payment is needed first (payment_required): PAYMENT-REQUIRED "
                      "says what to pay",
                 403: "Registration is closed (access_denied)"}
    return {**problems(*EVERY, 503),
            **{status: ResponseSpec(OAuthError, description=described[status],
                                    generate_examples=False) for status in statuses}}


def html_answers(**described: str) -> dict[int, ResponseSpec]:
    return {int(status[1:]): ResponseSpec(str, description=text, media_type=PAGE_MEDIA_TYPE,
                                          generate_examples=False)
            for status, text in described.items()}


TOKEN_REQUEST = read_by_hand(struct_body(TokenForm, FORM, "The token request"),
                             also_problems=(401,))
TOKEN_REFERENCE = read_by_hand(struct_body(TokenReferenceForm, FORM, "The token"),
                               also_problems=(401,))
PAGE_MEDIA_TYPE = "text/html; charset=utf-8"
REDIRECT = {302: ResponseSpec(None, description="Back to the client's redirect_uri, with a "
                              "code and state, or an error (RFC 6749 section 4.1.2)")}


def oauth_error(status: int, error: str, description: str) -> Response[bytes]:
    body = msgspec.json.encode({"error": error, "error_description": description})
    return Response(body, status_code=status, media_type="application/json", headers=NO_STORE)


def to_response(answer: OAuthResponse) -> Response[bytes]:
    headers = {k: v for k, v in answer.headers if k.lower() != "content-type"}
    media_type = answer.header("content-type") or "application/json"
    body = answer.body
    content = msgspec.json.encode(body) if isinstance(body, dict) else body.encode("utf-8")
    if answer.status == 302:
        media_type = "text/plain"
    return Response(content, status_code=answer.status, media_type=media_type,
                    headers={**NO_STORE, **headers})


def html(text: str, *, status: int = 200) -> Response[str]:
    return Response(text, status_code=status, media_type="text/html; charset=utf-8",
                    headers=PAGE_HEADERS)


async def read_http(request: Request[Any, Any, Any], services: Services, *,
                    form: bool) -> HttpRequest | Response[bytes]:
    """The request as the authorization server sees it, body read first. The URI is the
    public one (issuer + path), whatever proxy the request came through."""
    query = tuple(request.query_params.multi_items())
    pairs: tuple[tuple[str, str], ...] = ()
    if form:
        if request.content_type[0] != FORM:
            return oauth_error(400, "invalid_request", f"Send the parameters as {FORM}.")
        data = await request.form()
        items = list(data.multi_items())
        if not all(isinstance(v, str) for _, v in items):
            return oauth_error(400, "invalid_request", "Parameters must be text.")
        pairs = tuple((k, str(v)) for k, v in items)
    # No OAuth parameter carries a control character; PostgreSQL refuses NUL in text.
    if any("\x00" in k or "\x00" in v for k, v in (*query, *pairs)):
        return oauth_error(400, "invalid_request", "Parameters must not contain NUL.")
    uri = services.settings.resolved_issuer + request.url.path
    if request.url.query:
        uri += "?" + request.url.query
    return HttpRequest(method=request.method, uri=uri, headers=dict(request.headers.items()),
                       query=query, form=pairs)


async def call_server(request: Request[Any, Any, Any], services: Services,
                      endpoint: Any) -> Response[bytes]:
    http = await read_http(request, services, form=True)
    if isinstance(http, Response):
        return http
    repeated = repeated_parameter(http.form)
    if repeated is not None:
        return oauth_error(400, "invalid_request", f"The parameter {repeated} is repeated.")
    answer: OAuthResponse = await to_thread.run_sync(endpoint, http)
    return to_response(answer)


def consent_response(step: ConsentPrompt | AuthorizationRefused | OAuthResponse
                     ) -> Response[Any]:
    if isinstance(step, OAuthResponse):
        return to_response(step)
    if isinstance(step, AuthorizationRefused):
        return html(refused_page(step), status=400)
    return html(consent_page(step, action=AUTHORIZE_PATH), status=403 if step.error else 200)


class OAuthController(Controller):
    tags = ("oauth",)
    opt = reads("form")  # OAuth's own parameters; registration alone takes JSON

    @post(TOKEN_PATH, summary="Token endpoint (client_credentials, authorization_code "
                              "with PKCE, refresh_token)", status_code=200,
          operation_class=TOKEN_REQUEST,
          responses={200: ResponseSpec(TokenAnswer, description="An access token",
                                       generate_examples=False), **oauth_errors(400, 401)})
    async def token(self, request: Request[Any, Any, Any], services: ServicesDep) \
            -> Response[bytes]:
        return await call_server(request, services, services.auth.token)

    @post(INTROSPECT_PATH, summary="Token introspection (RFC 7662)", status_code=200,
          operation_class=TOKEN_REFERENCE,
          responses={200: ResponseSpec(TokenIntrospection, description="What the token is",
                                       generate_examples=False), **oauth_errors(400, 401)})
    async def introspect(self, request: Request[Any, Any, Any], services: ServicesDep) \
            -> Response[bytes]:
        return await call_server(request, services, services.auth.introspect)

    @post(REVOKE_PATH, summary="Token revocation (RFC 7009)", status_code=200,
          operation_class=TOKEN_REFERENCE,
          responses={200: ResponseSpec(None, description="Revoked, or was not valid"),
                     **oauth_errors(400, 401)})
    async def revoke(self, request: Request[Any, Any, Any], services: ServicesDep) \
            -> Response[bytes]:
        return await call_server(request, services, services.auth.revoke)

    @get(AUTHORIZE_PATH, summary="Authorization endpoint: the consent page",
         media_type=PAGE_MEDIA_TYPE,
         responses={**html_answers(
             _200="The consent page the artist answers",
             _400="The request cannot be sent back to its client (no valid client or "
                  "redirect_uri)"),
             **REDIRECT, **problems(*EVERY, 503)})
    async def authorize(self, request: Request[Any, Any, Any], services: ServicesDep) \
            -> Response[Any]:
        http = await read_http(request, services, form=False)
        if not isinstance(http, HttpRequest):
            return http
        step = await to_thread.run_sync(services.auth.consent, http)
        return consent_response(step)

    @post(AUTHORIZE_PATH, summary="The artist's answer to the consent page", status_code=200,
          media_type=PAGE_MEDIA_TYPE,
          operation_class=read_by_hand(struct_body(ConsentForm, FORM, "The artist's answer"),
                                       also_oauth_errors=(400,)),
          responses={**html_answers(
              _200="The consent page again",
              _400="The request cannot be sent back to its client",
              _403="The artist's sign-in failed: the page again, with the error"),
              **REDIRECT, **problems(*EVERY, 503)})
    async def decide(self, request: Request[Any, Any, Any], services: ServicesDep) \
            -> Response[Any]:
        http = await read_http(request, services, form=True)
        if isinstance(http, Response):
            return http
        approve = http.form_value("decision") == "approve"
        step = await to_thread.run_sync(lambda: services.auth.decide(http, approve=approve))
        return consent_response(step)

    @post(REGISTER_PATH, summary="Dynamic client registration for agents (RFC 7591)",
          status_code=201, opt=reads("json"),
          # The body reader refuses a body before the route reads it: a problem.
          operation_class=read_by_hand(struct_body(ClientRegistration, "application/json",
                                                   "The agent's client metadata"),
                                       also_problems=(400,)),
          responses={201: ResponseSpec(ClientInformation, description="The new client; its "
                                       "secret is shown this once", generate_examples=False),
                     **oauth_errors(400, 403), **problems(413, 415, 422)})
    async def register(self, request: Request[Any, Any, Any], services: ServicesDep) \
            -> Response[bytes]:
        s = services.settings
        address = request.client.host if request.client else "unknown"
        await charge(services.limiter, f"register:{address}",
                     Quota(capacity=s.registration_burst, per_minute=s.registration_per_minute))
        document = await request.json()  # read under the body limits (api/body.py)
        if not isinstance(document, dict):
            return oauth_error(400, "invalid_client_metadata",
                               "The registration request must be a JSON object.")
        answer = await to_thread.run_sync(services.auth.register, document)
        return to_response(answer)

    @get(METADATA_PATH, summary="Authorization server metadata (RFC 8414)", cache=60,
         responses=problems(*EVERY))
    async def metadata(self, services: ServicesDep) -> AuthServerMetadata:
        return msgspec.convert(services.auth.metadata(), AuthServerMetadata)
