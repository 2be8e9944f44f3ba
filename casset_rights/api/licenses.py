"""Licenses over HTTP: quotes, licenses, requests, revocation and introspection.

Requesting (quotes, ``POST /v1/licenses``) needs ``licenses:request``; reading and
managing what one holds or gave (and an artist's approvals, refusals and revocations)
needs ``licenses:manage``; both need a token. Introspection is open, like the other
reads (a token must hold ``rights:read``). A license or request that is not the caller's
answers 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, QueryParameter

from casset_rights.api.context import asked_context
from casset_rights.api.deps import PrincipalDep, ServicesDep
from casset_rights.api.idempotency import IdempotencyKey, claim_of
from casset_rights.api.openapi import BODY, PARAMS, SCOPED, requirement
from casset_rights.api.problems import problems
from casset_rights.api.schemas import (
    TERRITORY_PATTERN,
    Context,
    Granted,
    IntrospectionOut,
    LicenseIdPath,
    LicenseList,
    LicenseOut,
    MusicScope,
    Party,
    Pending,
    QuoteIdPath,
    QuoteOut,
    RequestIdPath,
    RequestList,
    RequestOut,
    ResourceField,
)
from casset_rights.api.security import needs
from casset_rights.auth.scopes import LICENSES_MANAGE, LICENSES_REQUEST, RIGHTS_READ
from casset_rights.licenses import (
    LICENSE_TYP,
    Grant,
    Introspection,
    LicenseRequest,
    Quote,
    licensee_key,
    rfc3339,
)
from casset_rights.limits import utc_instant
from casset_rights.principal import Principal

REQUEST = needs(LICENSES_REQUEST, anonymous=False)
MANAGE = needs(LICENSES_MANAGE, anonymous=False)
READ = needs(RIGHTS_READ)
Text = Annotated[str, msgspec.Meta(max_length=2000)]
# A time as seconds since the epoch, within the years 1 to 9999 (what datetime holds).
EpochSeconds = Annotated[float, msgspec.Meta(ge=-62_135_596_800, le=253_402_300_799)]


class QuoteBody(msgspec.Struct, forbid_unknown_fields=True):
    resource: ResourceField
    route: Annotated[str, msgspec.Meta(max_length=64, description="a route name from the "
                                                                  "decision's license_routes")]
    scopes: Annotated[list[MusicScope], msgspec.Meta(max_length=10)] = []
    context: Context = {}


class ObtainBody(msgspec.Struct, forbid_unknown_fields=True):
    quote_id: Annotated[str, msgspec.Meta(max_length=64)]
    message: Text | None = None


class DecideBody(msgspec.Struct, forbid_unknown_fields=True):
    message: Text | None = None


class RefuseBody(msgspec.Struct, forbid_unknown_fields=True):
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class RevokeBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class IntrospectBody(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(max_length=16_000)]
    resource: ResourceField | None = None
    scope: MusicScope | None = None
    territory: Annotated[str, msgspec.Meta(pattern=TERRITORY_PATTERN)] | None = None
    at: Annotated[Annotated[datetime, msgspec.Meta(tz=True)] | EpochSeconds | None,
                  msgspec.Meta(extra_json_schema={
                      "description": "RFC 3339 with a timezone, or seconds since the epoch: "
                                     "was the license in force then?",
                      "extra": {"one_of": [  # written out: Litestar drops a member's bounds
                          {"type": "string", "format": "date-time"},
                          {"type": "number", "minimum": -62_135_596_800,
                           "maximum": 253_402_300_799},
                          {"type": "null"}]}})] = None

    def moment(self) -> datetime | None:
        """``at`` as a time (seconds since the epoch read in UTC)."""
        if isinstance(self.at, int | float):
            return datetime.fromtimestamp(self.at, UTC)
        return self.at


def party(principal: dict[str, Any]) -> Party:
    return msgspec.convert(principal, Party)


def quote_body(quote: Quote) -> QuoteOut:
    return QuoteOut(
        id=quote.id, quote=quote.token, resource=quote.resource, scopes=list(quote.scopes),
        route=quote.route, price=quote.route.price, context=quote.context,
        created_at=rfc3339(quote.created_at_ms) or "",
        expires_at=rfc3339(quote.expires_at_ms) or "",
        used=quote.used_at_ms is not None, receipt_id=quote.id)


def license_body(grant: Grant, viewer: Principal, *, now_ms: int) -> LicenseOut:
    body = LicenseOut(
        id=grant.id, status=grant.current_status(now_ms), licensee=party(grant.principal),
        licensor=grant.artist_id, resource=grant.resource, scopes=list(grant.scopes),
        route=grant.route, granted_at=rfc3339(grant.granted_at_ms) or "",
        expires_at=rfc3339(grant.expires_at_ms), revoked_at=rfc3339(grant.revoked_at_ms),
        revocation_reason=grant.revocation_reason, quote_id=grant.quote_id,
        request_id=grant.request_id, payment_id=grant.payment_id,
        manifest_hash=grant.manifest_hash, receipt_id=grant.receipt_id,
        revocation_receipt_id=grant.revocation_receipt_id)
    if licensee_key(viewer) == grant.licensee:  # the token is the licensee's to present
        body.token = grant.token
        body.token_type = LICENSE_TYP
    return body


def request_body(request: LicenseRequest) -> RequestOut:
    return RequestOut(
        id=request.id, status=request.status, requester=party(request.principal),
        licensor=request.artist_id, resource=request.resource, scopes=list(request.scopes),
        route=request.route, message=request.message,
        created_at=rfc3339(request.created_at_ms) or "",
        decided_at=rfc3339(request.decided_at_ms), decision_message=request.decision_message,
        license_id=request.grant_id, quote_id=request.quote_id, receipt_id=request.receipt_id,
        decision_receipt_id=request.decision_receipt_id)


def introspection_body(answer: Introspection) -> IntrospectionOut:
    """RFC 7662's members (``active``, ``scope``, ``client_id``, ``sub``, ``exp``, ``iat``,
    ``nbf``, ``iss``, ``jti``, ``token_type``) and the license itself."""
    body = IntrospectionOut(active=answer.active, at=answer.at)
    if answer.reason:
        body.reason = answer.reason
    if answer.detail:
        body.detail = answer.detail
    grant = answer.license
    if grant is None:
        return body
    seconds = grant.granted_at_ms // 1000
    for name, value in (
        ("token_type", LICENSE_TYP), ("jti", grant.id), ("sub", grant.licensee),
        ("client_id", grant.principal.get("client_id")), ("scope", " ".join(grant.scopes)),
        ("iat", seconds), ("nbf", seconds),
        ("status", "revoked" if grant.status == "revoked" else "issued"),
        ("license_id", grant.id), ("licensee", party(grant.principal)),
        ("licensor", grant.artist_id), ("resource", grant.resource),
        ("scopes", list(grant.scopes)), ("route", grant.route),
        ("obligations", list(grant.route.obligations)),
        ("granted_at", rfc3339(grant.granted_at_ms)),
        ("expires_at", rfc3339(grant.expires_at_ms)),
        ("revoked_at", rfc3339(grant.revoked_at_ms)),
        ("revocation_reason", grant.revocation_reason),
    ):
        setattr(body, name, value)
    if grant.expires_at_ms is not None:
        body.exp = grant.expires_at_ms // 1000
    return body


StatusFilter = Annotated[Literal["active", "revoked"] | None, QueryParameter()]
RequestFilter = Annotated[Literal["pending", "approved", "refused"] | None, QueryParameter()]
Limit = Annotated[int, QueryParameter(ge=1, le=500)]


class LicenseController(Controller):
    path = "/v1/licenses"
    tags = ["licenses"]

    @post("/quotes", summary="Quote a license route", opt=REQUEST, status_code=201,
          sync_to_thread=True, security=requirement(REQUEST),
          responses=problems(*SCOPED, *BODY, 404, 503))
    def quote(self, data: JSONBody[QuoteBody], services: ServicesDep,
              principal: PrincipalDep, request: Request[Any, Any, Any]) -> QuoteOut:
        context, warnings = asked_context(request, data.context)
        quote = services.licenses.quote(principal, resource=data.resource, route=data.route,
                                        scopes=data.scopes or None, context=context)
        body = quote_body(quote)
        body.warnings = list(warnings)
        return body

    @get("/quotes/{quote_id:str}", summary="One of your quotes", opt=REQUEST,
         sync_to_thread=True, security=requirement(REQUEST),
         responses=problems(*SCOPED, *PARAMS, 404))
    def get_quote(self, quote_id: QuoteIdPath, services: ServicesDep,
                  principal: PrincipalDep) -> QuoteOut:
        return quote_body(services.licenses.get_quote(principal, quote_id))

    @post("", summary="Obtain a license with a quote", opt=REQUEST, sync_to_thread=True,
          status_code=201, security=requirement(REQUEST),
          responses={201: ResponseSpec(Granted, description="The license (free, paid or "
                                       "partner route)", generate_examples=False),
                     202: ResponseSpec(Pending, description="A request route: the artist "
                                       "answers the request", generate_examples=False),
                     **problems(*SCOPED, *BODY, 404, 409, 501, 503)})
    def obtain(self, data: JSONBody[ObtainBody], services: ServicesDep,
               principal: PrincipalDep,
               idempotency_key: IdempotencyKey = None) -> Response[Granted | Pending]:
        claim = claim_of(principal, idempotency_key, operation="license-obtain", request=data)
        obtained = services.licenses.obtain(principal, data.quote_id, message=data.message,
                                            claim=claim)
        if obtained.request is not None:
            return Response(Pending(status="pending", request=request_body(obtained.request)),
                            status_code=202)
        assert obtained.grant is not None
        now = services.licenses.now_ms()
        return Response(Granted(status="granted",
                                license=license_body(obtained.grant, principal, now_ms=now)),
                        status_code=201)

    @get("", summary="Licenses you hold, or gave", opt=MANAGE, sync_to_thread=True,
         security=requirement(MANAGE), responses=problems(*SCOPED, *PARAMS))
    def list_licenses(self, services: ServicesDep, principal: PrincipalDep,
                      status: StatusFilter = None, limit: Limit = 100) -> LicenseList:
        grants = services.license_desk.grants(principal, status=status, limit=limit)
        now = services.licenses.now_ms()
        return LicenseList(items=[license_body(g, principal, now_ms=now) for g in grants])

    @post("/introspect", summary="Is this license token in force? (RFC 7662 style)",
          opt=READ, status_code=200, sync_to_thread=True, security=requirement(READ),
          responses=problems(*SCOPED, *BODY))
    def introspect(self, data: JSONBody[IntrospectBody],
                   services: ServicesDep) -> IntrospectionOut:
        moment = data.moment()
        at = None if moment is None else utc_instant(moment, "/at")
        answer = services.license_desk.introspect(data.token, resource=data.resource,
                                                  scope=data.scope, territory=data.territory,
                                                  at=at)
        return introspection_body(answer)

    @get("/requests", summary="License requests you made, or that wait for you",
         opt=MANAGE, sync_to_thread=True, security=requirement(MANAGE),
         responses=problems(*SCOPED, *PARAMS))
    def list_requests(self, services: ServicesDep, principal: PrincipalDep,
                      status: RequestFilter = None, limit: Limit = 100) -> RequestList:
        found = services.license_desk.requests(principal, status=status, limit=limit)
        return RequestList(items=[request_body(r) for r in found])

    @get("/requests/{request_id:str}", summary="A license request and its outcome",
         opt=MANAGE, sync_to_thread=True, security=requirement(MANAGE),
         responses=problems(*SCOPED, *PARAMS, 404))
    def get_request(self, request_id: RequestIdPath, services: ServicesDep,
                    principal: PrincipalDep) -> RequestOut:
        desk = services.license_desk
        found = desk.request(principal, request_id)
        body = request_body(found)
        if found.grant_id is not None:
            body.license = license_body(desk.grant(principal, found.grant_id), principal,
                                           now_ms=services.licenses.now_ms())
        return body

    @post("/requests/{request_id:str}/approve", summary="Approve a license request",
          opt=MANAGE, status_code=200, sync_to_thread=True, security=requirement(MANAGE),
          responses=problems(*SCOPED, *BODY, 404, 409, 503))
    def approve(self, request_id: RequestIdPath, data: JSONBody[DecideBody],
                services: ServicesDep, principal: PrincipalDep,
                idempotency_key: IdempotencyKey = None) -> RequestOut:
        claim = claim_of(principal, idempotency_key, operation="license-approval",
                         request={"request": request_id, "body": data})
        decided, grant = services.license_desk.approve(principal, request_id,
                                                       message=data.message, claim=claim)
        body = request_body(decided)
        body.license = license_body(grant, principal, now_ms=services.licenses.now_ms())
        return body

    @post("/requests/{request_id:str}/refuse", summary="Refuse a license request",
          opt=MANAGE, status_code=200, sync_to_thread=True, security=requirement(MANAGE),
          responses=problems(*SCOPED, *BODY, 404, 409, 503))
    def refuse(self, request_id: RequestIdPath, data: JSONBody[RefuseBody],
               services: ServicesDep, principal: PrincipalDep) -> RequestOut:
        return request_body(services.license_desk.refuse(principal, request_id,
                                                         message=data.message))

    @get("/{license_id:str}", summary="A license you hold or gave", opt=MANAGE,
         sync_to_thread=True, security=requirement(MANAGE),
         responses=problems(*SCOPED, *PARAMS, 404, 405))
    def get_license(self, license_id: LicenseIdPath, services: ServicesDep,
                    principal: PrincipalDep) -> LicenseOut:
        grant = services.license_desk.grant(principal, license_id)
        return license_body(grant, principal, now_ms=services.licenses.now_ms())

    @post("/{license_id:str}/revoke", summary="Revoke a license you gave, from now on",
          opt=MANAGE, status_code=200, sync_to_thread=True, security=requirement(MANAGE),
          responses=problems(*SCOPED, *BODY, 404, 409, 503))
    def revoke(self, license_id: LicenseIdPath, data: JSONBody[RevokeBody],
               services: ServicesDep, principal: PrincipalDep,
               idempotency_key: IdempotencyKey = None) -> LicenseOut:
        claim = claim_of(principal, idempotency_key, operation="license-revocation",
                         request={"license": license_id, "body": data})
        grant = services.license_desk.revoke(principal, license_id, reason=data.reason,
                                             claim=claim)
        return license_body(grant, principal, now_ms=services.licenses.now_ms())
