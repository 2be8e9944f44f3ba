"""Licenses over HTTP: quotes, licenses, requests, revocation and introspection.

Requesting (quotes, ``POST /v1/licenses``) needs ``licenses:request``; reading and
managing what one holds or gave (and an artist's approvals, refusals and revocations)
needs ``licenses:manage``; both need a token. Introspection is open, like the other
reads (a token must hold ``rights:read``). A license or request that is not the caller's
answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from casset_rights.api.context import asked_context
from casset_rights.api.deps import PrincipalDep, ServicesDep
from casset_rights.api.idempotency import IdempotencyKey, claim_of
from casset_rights.api.security import needs
from casset_rights.auth.scopes import LICENSES_MANAGE, LICENSES_REQUEST, RIGHTS_READ
from casset_rights.limits import utc_instant
from casset_rights.licenses import (
    LICENSE_TYP, Grant, Introspection, LicenseRequest, Quote, licensee_key, rfc3339,
)
from casset_rights.principal import Principal

REQUEST = needs(LICENSES_REQUEST, anonymous=False)
MANAGE = needs(LICENSES_MANAGE, anonymous=False)
READ = needs(RIGHTS_READ)
Text = Annotated[str, msgspec.Meta(max_length=2000)]


class QuoteBody(msgspec.Struct, forbid_unknown_fields=True):
    resource: Annotated[str, msgspec.Meta(max_length=256,
                                          description="release:R, track:R/T or hook:R/T/H")]
    route: Annotated[str, msgspec.Meta(max_length=64, description="a route name from the "
                                                                  "decision's license_routes")]
    scopes: Annotated[list[str], msgspec.Meta(max_length=10)] = []
    context: dict[str, Any] = {}


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
    resource: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    scope: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    territory: Annotated[str, msgspec.Meta(min_length=2, max_length=2)] | None = None
    at: Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339, with a timezone: "
                                         "was the license in force then?")] | None = None


def route_body(route: Any) -> dict[str, Any]:
    return msgspec.to_builtins(route)  # type: ignore[no-any-return]


def quote_body(quote: Quote) -> dict[str, Any]:
    return {
        "id": quote.id, "quote": quote.token, "resource": quote.resource,
        "scopes": list(quote.scopes), "route": route_body(quote.route),
        "price": msgspec.to_builtins(quote.route.price), "context": quote.context,
        "created_at": rfc3339(quote.created_at_ms), "expires_at": rfc3339(quote.expires_at_ms),
        "used": quote.used_at_ms is not None, "receipt_id": quote.id,
    }


def license_body(grant: Grant, viewer: Principal, *, now_ms: int) -> dict[str, Any]:
    body = {
        "id": grant.id, "status": grant.current_status(now_ms), "licensee": grant.principal,
        "licensor": grant.artist_id, "resource": grant.resource, "scopes": list(grant.scopes),
        "route": route_body(grant.route), "granted_at": rfc3339(grant.granted_at_ms),
        "expires_at": rfc3339(grant.expires_at_ms), "revoked_at": rfc3339(grant.revoked_at_ms),
        "revocation_reason": grant.revocation_reason, "quote_id": grant.quote_id,
        "request_id": grant.request_id, "payment_id": grant.payment_id,
        "manifest_hash": grant.manifest_hash, "receipt_id": grant.receipt_id,
        "revocation_receipt_id": grant.revocation_receipt_id,
    }
    if licensee_key(viewer) == grant.licensee:  # the token is the licensee's to present
        body["token"] = grant.token
        body["token_type"] = LICENSE_TYP
    return body


def request_body(request: LicenseRequest) -> dict[str, Any]:
    return {
        "id": request.id, "status": request.status, "requester": request.principal,
        "licensor": request.artist_id, "resource": request.resource,
        "scopes": list(request.scopes), "route": route_body(request.route),
        "message": request.message, "created_at": rfc3339(request.created_at_ms),
        "decided_at": rfc3339(request.decided_at_ms),
        "decision_message": request.decision_message, "license_id": request.grant_id,
        "quote_id": request.quote_id, "receipt_id": request.receipt_id,
        "decision_receipt_id": request.decision_receipt_id,
    }


def introspection_body(answer: Introspection) -> dict[str, Any]:
    """RFC 7662's members (``active``, ``scope``, ``client_id``, ``sub``, ``exp``, ``iat``,
    ``nbf``, ``iss``, ``jti``, ``token_type``) and the license itself."""
    body: dict[str, Any] = {"active": answer.active, "at": answer.at}
    if answer.reason:
        body["reason"] = answer.reason
    if answer.detail:
        body["detail"] = answer.detail
    grant = answer.license
    if grant is None:
        return body
    body.update({
        "token_type": LICENSE_TYP, "jti": grant.id, "sub": grant.licensee,
        "client_id": grant.principal.get("client_id"), "scope": " ".join(grant.scopes),
        "iat": grant.granted_at_ms // 1000, "nbf": grant.granted_at_ms // 1000,
        "status": "revoked" if grant.status == "revoked" else "issued",
        "license_id": grant.id, "licensee": grant.principal, "licensor": grant.artist_id,
        "resource": grant.resource, "scopes": list(grant.scopes),
        "route": route_body(grant.route), "obligations": list(grant.route.obligations),
        "granted_at": rfc3339(grant.granted_at_ms), "expires_at": rfc3339(grant.expires_at_ms),
        "revoked_at": rfc3339(grant.revoked_at_ms),
        "revocation_reason": grant.revocation_reason,
    })
    if grant.expires_at_ms is not None:
        body["exp"] = grant.expires_at_ms // 1000
    return body


StatusFilter = Annotated[Literal["active", "revoked"] | None, QueryParameter()]
RequestFilter = Annotated[Literal["pending", "approved", "refused"] | None, QueryParameter()]
Limit = Annotated[int, QueryParameter(ge=1, le=500)]


class LicenseController(Controller):
    path = "/v1/licenses"
    tags = ["licenses"]

    @post("/quotes", summary="Quote a license route", opt=REQUEST, status_code=201,
          sync_to_thread=True)
    def quote(self, data: JSONBody[QuoteBody], services: ServicesDep,
              principal: PrincipalDep, request: Request[Any, Any, Any]) -> dict[str, Any]:
        context, warnings = asked_context(request, data.context)
        quote = services.licenses.quote(principal, resource=data.resource, route=data.route,
                                        scopes=data.scopes or None, context=context)
        return {**quote_body(quote), "warnings": msgspec.to_builtins(warnings)}

    @get("/quotes/{quote_id:str}", summary="One of your quotes", opt=REQUEST,
         sync_to_thread=True)
    def get_quote(self, quote_id: FromPath[str], services: ServicesDep,
                  principal: PrincipalDep) -> dict[str, Any]:
        return quote_body(services.licenses.get_quote(principal, quote_id))

    @post("", summary="Obtain a license with a quote", opt=REQUEST, sync_to_thread=True)
    def obtain(self, data: JSONBody[ObtainBody], services: ServicesDep,
               principal: PrincipalDep,
               idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
        claim = claim_of(principal, idempotency_key, operation="license-obtain", request=data)
        obtained = services.licenses.obtain(principal, data.quote_id, message=data.message,
                                            claim=claim)
        if obtained.request is not None:
            return Response({"status": "pending", "request": request_body(obtained.request)},
                            status_code=202)
        assert obtained.grant is not None
        now = services.licenses.now_ms()
        return Response({"status": "granted",
                         "license": license_body(obtained.grant, principal, now_ms=now)},
                        status_code=201)

    @get("", summary="Licenses you hold, or gave", opt=MANAGE, sync_to_thread=True)
    def list_licenses(self, services: ServicesDep, principal: PrincipalDep,
                      status: StatusFilter = None, limit: Limit = 100) -> dict[str, Any]:
        grants = services.license_desk.grants(principal, status=status, limit=limit)
        now = services.licenses.now_ms()
        return {"items": [license_body(g, principal, now_ms=now) for g in grants]}

    @post("/introspect", summary="Is this license token in force? (RFC 7662 style)",
          opt=READ, status_code=200, sync_to_thread=True)
    def introspect(self, data: JSONBody[IntrospectBody],
                   services: ServicesDep) -> dict[str, Any]:
        at = None if data.at is None else utc_instant(data.at, "/at")
        answer = services.license_desk.introspect(data.token, resource=data.resource,
                                                  scope=data.scope, territory=data.territory,
                                                  at=at)
        return introspection_body(answer)

    @get("/requests", summary="License requests you made, or that wait for you",
         opt=MANAGE, sync_to_thread=True)
    def list_requests(self, services: ServicesDep, principal: PrincipalDep,
                      status: RequestFilter = None, limit: Limit = 100) -> dict[str, Any]:
        found = services.license_desk.requests(principal, status=status, limit=limit)
        return {"items": [request_body(r) for r in found]}

    @get("/requests/{request_id:str}", summary="A license request and its outcome",
         opt=MANAGE, sync_to_thread=True)
    def get_request(self, request_id: FromPath[str], services: ServicesDep,
                    principal: PrincipalDep) -> dict[str, Any]:
        desk = services.license_desk
        found = desk.request(principal, request_id)
        body = request_body(found)
        if found.grant_id is not None:
            body["license"] = license_body(desk.grant(principal, found.grant_id), principal,
                                           now_ms=services.licenses.now_ms())
        return body

    @post("/requests/{request_id:str}/approve", summary="Approve a license request",
          opt=MANAGE, status_code=200, sync_to_thread=True)
    def approve(self, request_id: FromPath[str], data: JSONBody[DecideBody],
                services: ServicesDep, principal: PrincipalDep,
                idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        claim = claim_of(principal, idempotency_key, operation="license-approval",
                         request={"request": request_id, "body": data})
        decided, grant = services.license_desk.approve(principal, request_id,
                                                       message=data.message, claim=claim)
        return {**request_body(decided),
                "license": license_body(grant, principal, now_ms=services.licenses.now_ms())}

    @post("/requests/{request_id:str}/refuse", summary="Refuse a license request",
          opt=MANAGE, status_code=200, sync_to_thread=True)
    def refuse(self, request_id: FromPath[str], data: JSONBody[RefuseBody],
               services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
        return request_body(services.license_desk.refuse(principal, request_id,
                                                         message=data.message))

    @get("/{license_id:str}", summary="A license you hold or gave", opt=MANAGE,
         sync_to_thread=True)
    def get_license(self, license_id: FromPath[str], services: ServicesDep,
                    principal: PrincipalDep) -> dict[str, Any]:
        grant = services.license_desk.grant(principal, license_id)
        return license_body(grant, principal, now_ms=services.licenses.now_ms())

    @post("/{license_id:str}/revoke", summary="Revoke a license you gave, from now on",
          opt=MANAGE, status_code=200, sync_to_thread=True)
    def revoke(self, license_id: FromPath[str], data: JSONBody[RevokeBody],
               services: ServicesDep, principal: PrincipalDep,
               idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        claim = claim_of(principal, idempotency_key, operation="license-revocation",
                         request={"license": license_id, "body": data})
        grant = services.license_desk.revoke(principal, license_id, reason=data.reason,
                                             claim=claim)
        return license_body(grant, principal, now_ms=services.licenses.now_ms())
