"""Lineage edges proposed, decided and withdrawn, over HTTP.

Every route needs a token with ``licenses:manage``. Anyone authenticated proposes an
edge for a child they do not own; the child's artist (or a client acting for the
artist) lists the proposals waiting, accepts one (the edges are declared, with a
receipt) or declines it (a receipt too), and withdraws an edge in force (a receipt; the
edge stays in the history, ``GET /v1/derivatives/edges``). A proposal that is neither
the caller's nor addressed to them answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, QueryParameter

from casset_rights.api.context import asked_context
from casset_rights.api.deps import PrincipalDep, ServicesDep
from casset_rights.api.idempotency import IdempotencyKey, claim_of
from casset_rights.api.lineage import edge_body, registration_body
from casset_rights.api.openapi import BODY, PARAMS, SCOPED, requirement
from casset_rights.api.problems import problems
from casset_rights.api.schemas import (
    RESOURCE_DESCRIPTION,
    RESOURCE_PATTERN,
    Context,
    EdgeHistory,
    EdgeOut,
    Party,
    ProposalList,
    ProposalOut,
    ResourceField,
    id_path,
)
from casset_rights.api.security import needs
from casset_rights.auth.scopes import LICENSES_MANAGE
from casset_rights.licenses import rfc3339
from casset_rights.lineage import ParentLink, Proposal, Relationship

MANAGE = needs(LICENSES_MANAGE, anonymous=False)
SECURITY = requirement(MANAGE)
ResourceId = ResourceField
ProposalIdPath = id_path("^.{1,64}$", "a lineage proposal's id")


class ProposalBody(msgspec.Struct, forbid_unknown_fields=True):
    child: Annotated[ResourceField, msgspec.Meta(description="the derivative: "
                                                 "release, track or hook, of another artist")]
    parents: Annotated[list[ParentLink], msgspec.Meta(min_length=1, max_length=50)]
    context: Context = {}
    message: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class DecisionBody(msgspec.Struct, forbid_unknown_fields=True):
    message: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class DeclineBody(msgspec.Struct, forbid_unknown_fields=True):
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class WithdrawBody(msgspec.Struct, forbid_unknown_fields=True):
    child: ResourceId
    parent: ResourceId
    relationship: Relationship
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


def proposal_body(proposal: Proposal) -> ProposalOut:
    return ProposalOut(
        id=proposal.id, status=proposal.status, child=proposal.child,
        child_artist=proposal.child_artist, parents=list(proposal.parents),
        context=proposal.context, proposer=msgspec.convert(proposal.principal, Party),
        message=proposal.message, created_at=rfc3339(proposal.created_at_ms) or "",
        decided_at=rfc3339(proposal.decided_at_ms),
        decision_message=proposal.decision_message,
        decision_receipt_id=proposal.decision_receipt_id)


ProposalFilter = Annotated[Literal["pending", "accepted", "declined"] | None,
                           QueryParameter()]


class LineageOwnerController(Controller):
    path = "/v1/derivatives"
    tags = ("lineage",)

    @post("/withdraw", summary="Withdraw an edge of a derivative you own", opt=MANAGE,
          status_code=200, sync_to_thread=True, security=SECURITY,
          responses=problems(*SCOPED, *BODY, 404, 409))
    def withdraw(self, data: JSONBody[WithdrawBody], services: ServicesDep,
                 principal: PrincipalDep,
                 idempotency_key: IdempotencyKey = None) -> EdgeOut:
        claim = claim_of(principal, idempotency_key, operation="derivative-withdrawal",
                         request=data)
        edge = services.lineage.withdraw(principal, child=data.child, parent=data.parent,
                                         relationship=data.relationship, reason=data.reason,
                                         claim=claim)
        return edge_body(edge)

    @get("/edges", summary="Every edge ever declared for a derivative, withdrawn ones too",
         opt=MANAGE, sync_to_thread=True, security=SECURITY,
         responses=problems(*SCOPED, *PARAMS, 404))
    def history(self, services: ServicesDep,
                child: Annotated[str, QueryParameter(
                    max_length=256, schema_extra={"pattern": RESOURCE_PATTERN},
                    description=RESOURCE_DESCRIPTION)]) -> EdgeHistory:
        edges = services.lineage.history(child)
        return EdgeHistory(child=child, edges=[edge_body(e) for e in edges])

    @post("/proposals", summary="Propose parents for another artist's derivative",
          opt=MANAGE, status_code=201, sync_to_thread=True, security=SECURITY,
          responses=problems(*SCOPED, *BODY, 404, 409))
    def propose(self, data: JSONBody[ProposalBody], services: ServicesDep,
                principal: PrincipalDep, request: Request[Any, Any, Any]) -> ProposalOut:
        context, warnings = asked_context(request, data.context)
        proposal = services.lineage_proposals.propose(
            principal, child=data.child, parents=data.parents, context=context,
            message=data.message)
        body = proposal_body(proposal)
        body.warnings = list(warnings)
        return body

    @get("/proposals", summary="Proposals you made, or that wait for you", opt=MANAGE,
         sync_to_thread=True, security=SECURITY, responses=problems(*SCOPED, *PARAMS))
    def list_proposals(self, services: ServicesDep, principal: PrincipalDep,
                       status: ProposalFilter = None,
                       limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
                       ) -> ProposalList:
        found = services.lineage_proposals.proposals(principal, status=status, limit=limit)
        return ProposalList(items=[proposal_body(p) for p in found])

    @get("/proposals/{proposal_id:str}", summary="A lineage proposal and its outcome",
         opt=MANAGE, sync_to_thread=True, security=SECURITY,
         responses=problems(*SCOPED, *PARAMS, 404))
    def get_proposal(self, proposal_id: ProposalIdPath, services: ServicesDep,
                     principal: PrincipalDep) -> ProposalOut:
        return proposal_body(services.lineage_proposals.proposal(principal, proposal_id))

    @post("/proposals/{proposal_id:str}/accept", summary="Accept a proposal: declare its "
          "edges", opt=MANAGE, sync_to_thread=True, security=SECURITY, status_code=201,
          responses={201: ResponseSpec(ProposalOut, description="Accepted: new edges "
                                       "declared", generate_examples=False),
                     200: ResponseSpec(ProposalOut, description="Accepted: every edge was "
                                       "there already", generate_examples=False),
                     **problems(*SCOPED, *BODY, 404, 409)})
    def accept(self, proposal_id: ProposalIdPath, data: JSONBody[DecisionBody],
               services: ServicesDep, principal: PrincipalDep) -> Response[ProposalOut]:
        proposal, registration = services.lineage_proposals.accept(
            principal, proposal_id, message=data.message)
        body = proposal_body(proposal)
        body.registration = registration_body(registration)
        return Response(body, status_code=201 if any(registration.created) else 200)

    @post("/proposals/{proposal_id:str}/decline", summary="Decline a proposal",
          opt=MANAGE, status_code=200, sync_to_thread=True, security=SECURITY,
          responses=problems(*SCOPED, *BODY, 404, 409))
    def decline(self, proposal_id: ProposalIdPath, data: JSONBody[DeclineBody],
                services: ServicesDep, principal: PrincipalDep) -> ProposalOut:
        return proposal_body(services.lineage_proposals.decline(principal, proposal_id,
                                                                message=data.message))
