"""RSL's license server (Open License Protocol) and protected content.

``/olp/token`` and ``/olp/introspect`` take form posts and answer in OAuth's JSON form
(errors per RFC 6749 section 5.2, ``401`` with ``WWW-Authenticate: Basic`` for a client
that did not authenticate). ``/v1/lyrics/...`` is protected content: the caller's use
must be permitted or covered by ``Authorization: License <token>``; otherwise a problem
with ``WWW-Authenticate: License`` (casset_rights/agents/olp.py).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import unquote

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter
from msgspec import UNSET, UnsetType
from x402.http.utils import encode_payment_response_header

from casset_rights.agents.olp import LicenseServer, OlpError, client_principal
from casset_rights.api.agent_schemas import OlpIntrospection, OlpTokenAnswer, PaidLicense
from casset_rights.api.body import FORM, reads
from casset_rights.api.deps import PrincipalDep, ServicesDep, services_of
from casset_rights.api.licenses import license_body
from casset_rights.api.oauth import oauth_errors
from casset_rights.api.openapi import PARAMS, SCOPED, read_by_hand, requirement, struct_body
from casset_rights.api.problems import problems
from casset_rights.api.schemas import Answer, TokenReferenceForm
from casset_rights.api.security import needs
from casset_rights.auth.scopes import LICENSES_REQUEST
from casset_rights.errors import NotFound, PaymentsNotConfigured
from casset_rights.policy import SCOPES
from casset_rights.principal import Principal
from casset_rights.resources import ResourceRef

_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
Use = Literal[SCOPES]  # type: ignore[valid-type]
PAY_X402 = needs(LICENSES_REQUEST, anonymous=False)


class OlpTokenForm(Answer):
    """RSL's token request, form-encoded: a license for an asset of this service
    (``resource``, its URL), by ``client_credentials`` or ``rsl`` (``license``, the RSL
    license element asked for); a paid route's retry names its ``quote`` and carries the
    x402 ``PAYMENT-SIGNATURE`` header. The client authenticates with HTTP Basic, or
    ``client_id`` and ``client_secret`` in the form."""

    grant_type: Literal["client_credentials", "rsl"] | UnsetType = UNSET
    resource: str | UnsetType = UNSET
    license: str | UnsetType = UNSET
    quote: str | UnsetType = UNSET
    client_id: str | UnsetType = UNSET
    client_secret: str | UnsetType = UNSET


class OlpIntrospectForm(TokenReferenceForm):
    """RFC 7662 for a license token, form-encoded, with the asset and the use asked about."""

    resource: str | UnsetType = UNSET
    scope: str | UnsetType = UNSET


def olp_answers(answer: type, description: str, *errors: int) -> dict[int, ResponseSpec]:
    """A license server answer, OAuth's errors (JSON) and the problems before them."""
    return {200: ResponseSpec(answer, description=description, generate_examples=False),
            **problems(403, 413), **oauth_errors(*errors)}


def license_server(services: Any) -> LicenseServer:
    return LicenseServer(licenses=services.licenses, desk=services.license_desk,
                         decisions=services.decisions, base=services.agents.base,
                         x402=services.x402)


def _oauth_error(error: OlpError | None, *, status: int = 400, code: str = "",
                 description: str = "", headers: dict[str, str] | None = None) -> Response[Any]:
    body = ({"error": error.error, "error_description": error.description} if error
            else {"error": code, "error_description": description})
    return Response(body, status_code=error.status if error else status,
                    headers={**_NO_STORE, **(error.headers if error else {}), **(headers or {})})


def _client(request: Request[Any, Any, Any], form: dict[str, str]) -> Principal | None:
    """The client of client_secret_basic or client_secret_post, or None."""
    header = request.headers.get("authorization", "")
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if header[:6].lower() == "basic ":
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, _, secret = raw.partition(":")
        client_id, secret = unquote(client_id), unquote(secret)
    if not client_id or not secret:
        return None
    return client_principal(services_of(request).auth, client_id, secret)


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _client_call(request: Request[Any, Any, Any],
                       call: Callable[[LicenseServer, Principal, dict[str, str]], Any]
                       ) -> Response[Any]:
    """Authenticate the client of a form post, then answer ``call`` in OAuth's form."""
    form = await _form(request)
    principal = await anyio.to_thread.run_sync(_client, request, form)
    if principal is None:
        return _oauth_error(None, status=401, code="invalid_client",
                            description="authenticate with your OAuth client credentials",
                            headers={"www-authenticate": 'Basic realm="olp"'})
    server = license_server(services_of(request))
    try:
        answer = await anyio.to_thread.run_sync(lambda: call(server, principal, form))
    except OlpError as error:
        return _oauth_error(error)
    return Response(answer, headers=_NO_STORE)


class LicenseServerController(Controller):
    tags = ("rsl",)
    opt = reads("form")  # OAuth's form posts, like /oauth/token

    @post("/olp/token", summary="RSL Open License Protocol: a license token for an asset",
          status_code=200,
          operation_class=read_by_hand(struct_body(OlpTokenForm, FORM, "The token request"),
                                       also_problems=(401,)),
          responses=olp_answers(OlpTokenAnswer, "The license token", 400, 401, 402))
    async def token(self, request: Request[Any, Any, Any]) -> Response[Any]:
        signature = request.headers.get("payment-signature")
        return await _client_call(request, lambda server, principal, form: server.token(
            principal, grant_type=form.get("grant_type"), resource=form.get("resource"),
            license_xml=form.get("license"), quote_id=form.get("quote"),
            payment_signature=signature))

    @post("/olp/introspect", summary="RSL Open License Protocol: is this license in force "
          "for this asset and use? (RFC 7662)", status_code=200,
          operation_class=read_by_hand(struct_body(OlpIntrospectForm, FORM, "The token"),
                                       also_problems=(401,)),
          responses=olp_answers(OlpIntrospection, "What the license is", 400, 401))
    async def introspect(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await _client_call(request, lambda server, _principal, form: server.introspect(
            form.get("token"), resource=form.get("resource"), scope=form.get("scope")))


class LyricsResponse(msgspec.Struct, frozen=True):
    resource: str
    use: str
    lyric: str
    by: str  # "permitted" (the policy permits the use) or the license id


class ProtectedContentController(Controller):
    tags = ("catalog",)

    @get("/v1/lyrics/{release_id:str}/{track:str}/{hook:str}",
         summary="A hook's lyric, for a use: permitted, or covered by Authorization: License",
         sync_to_thread=True, responses=problems(*SCOPED, *PARAMS, 402, 404))
    def lyric(self, release_id: FromPath[str], track: FromPath[str], hook: FromPath[str],
              request: Request[Any, Any, Any], services: ServicesDep, principal: PrincipalDep,
              use: Annotated[Use, QueryParameter(description="the use you make of it")]
              ) -> LyricsResponse:
        record = services.catalog.hook(f"{release_id}/{track}/{hook}")
        lyric = getattr(record, "lyric", None)
        if not lyric:
            raise NotFound(f"hook {release_id}/{track}/{hook} has no lyric")
        ref = ResourceRef("hook", release_id, track, hook)
        by = license_server(services).require_license(
            principal, request.headers.get("authorization"), ref=ref, use=use)
        return LyricsResponse(resource=ref.id, use=use, lyric=lyric, by=by)


class X402Controller(Controller):
    """x402 v2 for paid routes: ``POST /x402/licenses/{quote_id}`` answers 402 with
    ``PAYMENT-REQUIRED``; the retry with ``PAYMENT-SIGNATURE`` is verified and settled, and
    the license granted (``PAYMENT-RESPONSE`` names the transaction)."""

    tags = ("licenses",)

    @post("/x402/licenses/{quote_id:str}", summary="Pay a quote of a paid route with x402 "
          "(USDC) and get the license",
          # No body is read (the payment is a header): form only bounds its size.
          opt={**PAY_X402, **reads("form")}, status_code=201, sync_to_thread=True,
          security=requirement(PAY_X402),
          responses=problems(*SCOPED, *PARAMS, 402, 404, 409, 413, 501, 502))
    def pay(self, quote_id: FromPath[str], request: Request[Any, Any, Any],
            services: ServicesDep, principal: PrincipalDep) -> Response[PaidLicense]:
        checkout = services.x402
        if checkout is None:
            raise PaymentsNotConfigured("x402 is turned off on this service")
        url = f"{services.agents.base}/x402/licenses/{quote_id}"
        header = request.headers.get("payment-signature")
        if not header:
            quote = services.licenses.get_quote(principal, quote_id)
            required = checkout.payment_required(quote, url=url,
                                                 error="PAYMENT-SIGNATURE header is required")
            return Response({"type": "https://casset.example/problems/payment_required",
                             "title": "Payment required", "status": 402,
                             "code": "payment_required",
                             "detail": f"pay {quote.route.name} with x402: sign the "
                                       "requirements in PAYMENT-REQUIRED and send them back "
                                       "as PAYMENT-SIGNATURE"},
                            status_code=402, media_type="application/problem+json",
                            headers={"PAYMENT-REQUIRED": required})
        paid = checkout.pay(principal, quote_id, header, url=url)
        now = services.licenses.now_ms()
        return Response(PaidLicense(status="granted", transaction=paid.settlement.transaction,
                                    network=paid.settlement.network,
                                    license=license_body(paid.grant, principal, now_ms=now)),
                        status_code=201,
                        headers={"PAYMENT-RESPONSE": encode_payment_response_header(
                            paid.settlement)})
