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
from litestar.params import FromPath, JSONBody, QueryParameter

from casset_rights.api.context import asked_context
from casset_rights.api.deps import PrincipalDep, ServicesDep
from casset_rights.api.idempotency import IdempotencyKey, claim_of
from casset_rights.api.security import needs
from casset_rights.auth.scopes import LICENSES_MANAGE, RIGHTS_READ
from casset_rights.licenses import rfc3339
from casset_rights.limits import INT64_MAX
from casset_rights.lineage import Edge, LineageView, ParentLink, Registration
from casset_rights.lineage.reading import DEFAULT_DEPTH, MAX_DEPTH, MAX_EDGES


class DerivativeBody(msgspec.Struct, forbid_unknown_fields=True):
    child: Annotated[str, msgspec.Meta(max_length=256,
                                       description="the derivative: release, track or hook")]
    parents: Annotated[list[ParentLink], msgspec.Meta(min_length=1, max_length=50)]
    context: dict[str, Any] = {}


def edge_body(edge: Edge) -> dict[str, Any]:
    return {"id": edge.id, "child": edge.child, "parent": edge.parent,
            "relationship": edge.relationship,
            "grant": edge.grant_id, "revenue_share_percent": edge.revenue_share_ppm / 10_000,
            "child_artist": edge.child_artist, "parent_artist": edge.parent_artist,
            "registered_at": rfc3339(edge.registered_at_ms), "receipt_id": edge.receipt_id,
            "withdrawn_at": rfc3339(edge.withdrawn_at_ms),
            "withdrawal_receipt_id": edge.withdrawal_receipt_id, "depth": edge.depth}


def registration_body(done: Registration) -> dict[str, Any]:
    return {"child": done.child, "receipt_id": done.receipt_id,
            "edges": [{**edge_body(e), "created": c}
                      for e, c in zip(done.edges, done.created, strict=True)]}


def view_body(view: LineageView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resource": view.resource, "direction": view.direction, "depth": view.depth,
        "nodes": msgspec.to_builtins(view.nodes),
        "edges": [edge_body(e) for e in view.edges],
        "attribution": list(view.attribution), "truncated": view.truncated,
    }
    if view.royalties is not None:
        body["royalties"] = msgspec.to_builtins(view.royalties)
    return body


class LineageController(Controller):
    tags = ["lineage"]

    @post("/v1/derivatives", summary="Register a derivative and its parents",
          opt=needs(LICENSES_MANAGE, anonymous=False), sync_to_thread=True)
    def register(self, data: JSONBody[DerivativeBody], services: ServicesDep,
                 principal: PrincipalDep,
                 request: Request[Any, Any, Any],
                 idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
        context, warnings = asked_context(request, data.context)
        claim = claim_of(principal, idempotency_key, operation="derivative", request=data)
        done = services.lineage.register(principal, child=data.child, parents=data.parents,
                                         context=context, claim=claim)
        body = {**registration_body(done), "warnings": msgspec.to_builtins(warnings)}
        return Response(body, status_code=201 if any(done.created) else 200)

    @get("/v1/lineage/{resource:path}", summary="Ancestors or descendants of a resource",
         opt=needs(RIGHTS_READ), sync_to_thread=True)
    def lineage(
        self, resource: FromPath[str], services: ServicesDep,
        direction: Annotated[Literal["ancestors", "descendants"], QueryParameter()] = "ancestors",
        depth: Annotated[int, QueryParameter(ge=1, le=MAX_DEPTH)] = DEFAULT_DEPTH,
        revenue: Annotated[int | None, QueryParameter(
            ge=0, le=INT64_MAX, description="revenue earned by the resource, in minor units: "
                              "answers the royalty split")] = None,
        currency: Annotated[str | None, QueryParameter(min_length=3, max_length=3)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_EDGES)] = MAX_EDGES,
    ) -> dict[str, Any]:
        view = services.lineage.lineage(resource.lstrip("/"), direction=direction, depth=depth,
                                        revenue=revenue, currency=currency, limit=limit)
        return view_body(view)
