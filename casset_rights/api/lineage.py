"""Lineage over HTTP: registering derivatives, and reading the graph around a resource.

Registering needs a token with ``licenses:manage`` held for the child's artist (the
artist's own client, or a partner the artist authorised): only the owner declares a
child's parents, and the owner's licenses allow the uses. Anyone else proposes
(``api/lineage_proposals.py``). Reading is open like the other reads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, QueryParameter

from casset_rights.api.context import asked_context
from casset_rights.api.decisions import ResourcePath, resource_in_path
from casset_rights.api.deps import PrincipalDep, ServicesDep
from casset_rights.api.idempotency import IdempotencyKey, claim_of
from casset_rights.api.openapi import BODY, PARAMS, SCOPED, requirement
from casset_rights.api.problems import problems
from casset_rights.api.schemas import (
    Context,
    EdgeOut,
    LineageOut,
    RegisteredEdge,
    RegistrationOut,
    ResourceField,
    RoyaltiesOut,
)
from casset_rights.api.security import needs
from casset_rights.auth.scopes import LICENSES_MANAGE, RIGHTS_READ
from casset_rights.licenses import rfc3339
from casset_rights.limits import INT64_MAX
from casset_rights.lineage import Edge, LineageView, ParentLink, Registration
from casset_rights.lineage.reading import DEFAULT_DEPTH, MAX_DEPTH, MAX_EDGES

REGISTER = needs(LICENSES_MANAGE, anonymous=False)
READ = needs(RIGHTS_READ)


class DerivativeBody(msgspec.Struct, forbid_unknown_fields=True):
    child: Annotated[ResourceField, msgspec.Meta(description="the derivative")]
    parents: Annotated[list[ParentLink], msgspec.Meta(min_length=1, max_length=50)]
    context: Context = {}


def edge_body(edge: Edge) -> EdgeOut:
    return EdgeOut(**edge_fields(edge))


def edge_fields(edge: Edge) -> dict[str, Any]:
    return {"id": edge.id, "child": edge.child, "parent": edge.parent,
            "relationship": edge.relationship,
            "grant": edge.grant_id, "revenue_share_percent": edge.revenue_share_ppm / 10_000,
            "child_artist": edge.child_artist, "parent_artist": edge.parent_artist,
            "registered_at": rfc3339(edge.registered_at_ms), "receipt_id": edge.receipt_id,
            "withdrawn_at": rfc3339(edge.withdrawn_at_ms),
            "withdrawal_receipt_id": edge.withdrawal_receipt_id, "depth": edge.depth}


def registration_body(done: Registration) -> RegistrationOut:
    return RegistrationOut(child=done.child, receipt_id=done.receipt_id, edges=[
        RegisteredEdge(**edge_fields(e), created=c)
        for e, c in zip(done.edges, done.created, strict=True)])


def view_body(view: LineageView) -> LineageOut:
    body = LineageOut(resource=view.resource, direction=view.direction, depth=view.depth,
                      nodes=list(view.nodes), edges=[edge_body(e) for e in view.edges],
                      attribution=list(view.attribution), truncated=view.truncated)
    if view.royalties is not None:
        r = view.royalties
        body.royalties = RoyaltiesOut(revenue=r.revenue, currency=r.currency, method=r.method,
                                      shares=list(r.shares))
    return body


class LineageController(Controller):
    tags = ["lineage"]

    @post("/v1/derivatives", summary="Register a derivative and its parents",
          opt=REGISTER, sync_to_thread=True, security=requirement(REGISTER),
          status_code=201,
          responses={201: ResponseSpec(RegistrationOut, description="New edges registered",
                                       generate_examples=False),
                     200: ResponseSpec(RegistrationOut, description="Every edge was there "
                                       "already", generate_examples=False),
                     **problems(*SCOPED, *BODY, 404, 409)})
    def register(self, data: JSONBody[DerivativeBody], services: ServicesDep,
                 principal: PrincipalDep,
                 request: Request[Any, Any, Any],
                 idempotency_key: IdempotencyKey = None) -> Response[RegistrationOut]:
        context, warnings = asked_context(request, data.context)
        claim = claim_of(principal, idempotency_key, operation="derivative", request=data)
        done = services.lineage.register(principal, child=data.child, parents=data.parents,
                                         context=context, claim=claim)
        body = registration_body(done)
        body.warnings = list(warnings)
        return Response(body, status_code=201 if any(done.created) else 200)

    @get("/v1/lineage/{resource:path}", summary="Ancestors or descendants of a resource",
         opt=READ, sync_to_thread=True, security=requirement(READ),
         responses=problems(*SCOPED, *PARAMS, 404))
    def lineage(
        self, resource: ResourcePath, services: ServicesDep,
        direction: Annotated[Literal["ancestors", "descendants"], QueryParameter()] = "ancestors",
        depth: Annotated[int, QueryParameter(ge=1, le=MAX_DEPTH)] = DEFAULT_DEPTH,
        revenue: Annotated[int | None, QueryParameter(
            ge=0, le=INT64_MAX, schema_extra={"minimum": 0, "maximum": INT64_MAX},
            description="revenue earned by the resource, in minor units: "
                              "answers the royalty split")] = None,
        currency: Annotated[str | None, QueryParameter(min_length=3, max_length=3)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_EDGES)] = MAX_EDGES,
    ) -> LineageOut:
        view = services.lineage.lineage(resource_in_path(resource), direction=direction,
                                        depth=depth, revenue=revenue, currency=currency,
                                        limit=limit)
        return view_body(view)
