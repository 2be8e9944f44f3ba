"""Edges proposed to a child's owner: anyone authenticated proposes, the owner decides.

A proposal names a child and its parents as ``register`` would. It is checked when made
(the parents exist, no cycle, the proposer's licenses or the policies permit each use),
so the owner is asked only about edges that could be declared, and checked again when
the owner accepts, since grants and policies may have changed meanwhile. Accepting
declares the edges (signed for the owner, resting on the proposer's licenses) and marks
the proposal in the same transaction as the edges and their receipt; declining is a
receipt too. Proposals are seen by their proposer and by the child's owner only; anyone
else is told they do not exist.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import Connection, Engine, insert, or_, select, update

from casset_rights.db.engine import writing
from casset_rights.errors import InvalidInput
from casset_rights.licenses.service import principal_from, require_licensee
from casset_rights.lineage.errors import ProposalAlreadyDecided, ProposalNotFound
from casset_rights.lineage.models import ParentLink, Registration
from casset_rights.lineage.service import LineageService, require_owner
from casset_rights.lineage.tables import lineage_proposals
from casset_rights.principal import Principal
from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore

MAX_LIST = 500
ProposalStatus = Literal["pending", "accepted", "declined"]


class Proposal(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    child: str
    child_artist: str
    parents: tuple[ParentLink, ...]
    context: dict[str, Any]
    proposer: str
    principal: dict[str, Any]
    message: str | None
    status: ProposalStatus
    created_at_ms: int
    decided_at_ms: int | None = None
    decision_message: str | None = None
    decision_receipt_id: str | None = None


class LineageProposals:
    def __init__(self, lineage: LineageService, *, engine: Engine, issuer: ReceiptIssuer,
                 receipts: ReceiptStore, clock: Callable[[], float] = time.time) -> None:
        self._lineage = lineage
        self._engine = engine
        self._issuer = issuer
        self._receipts = receipts
        self._clock = clock

    def propose(self, principal: Principal, *, child: str, parents: Sequence[ParentLink],
                context: Mapping[str, Any] | None = None,
                message: str | None = None) -> Proposal:
        """Ask the owner of ``child`` to declare these parents. Raises Unauthenticated,
        InvalidInput (the owner proposing to itself: it registers directly),
        UnknownResource, UnknownParent, GrantDoesNotCover, GrantRequired, LineageCycle."""
        proposer = require_licensee(principal)
        child_ref, owner = self._lineage.child_of(child)
        if principal.kind == "artist" and principal.subject == owner:
            raise InvalidInput(f"{child_ref.id} is yours: register its parents directly "
                               "(POST /v1/derivatives)")
        planned = self._lineage.plan(principal, child=child_ref, owner=owner,
                                     parents=parents, context=context)
        proposal = Proposal(id="prop_" + uuid.uuid4().hex, child=child_ref.id,
                            child_artist=owner, parents=tuple(parents),
                            context=planned.context, proposer=proposer,
                            principal=principal.for_receipt(), message=message,
                            status="pending", created_at_ms=self._now())
        row = msgspec.to_builtins(proposal)
        for name in ("parents", "context", "principal"):
            row[name] = msgspec.json.encode(row[name]).decode()
        with writing(self._engine) as conn:
            conn.execute(insert(lineage_proposals).values(**row))
        return proposal

    def proposals(self, principal: Principal, *, status: ProposalStatus | None = None,
                  limit: int = 100) -> list[Proposal]:
        """Proposals the principal made and, for an artist, the ones waiting on its
        children; newest first."""
        proposer = require_licensee(principal)
        p = lineage_proposals.c
        who = [p.proposer == proposer]
        if principal.kind == "artist" and principal.subject:
            who.append(p.child_artist == principal.subject)
        query = select(lineage_proposals).where(or_(*who))
        if status is not None:
            query = query.where(p.status == status)
        query = query.order_by(p.created_at_ms.desc(), p.id).limit(min(limit, MAX_LIST))
        with self._engine.connect() as conn:
            return [_proposal(row) for row in conn.execute(query)]

    def proposal(self, principal: Principal, proposal_id: str) -> Proposal:
        """Raises ProposalNotFound unless the principal made it or owns its child."""
        with self._engine.connect() as conn:
            found = _read(conn, proposal_id)
        owner = principal.subject if principal.kind == "artist" else None
        if found is None or (found.proposer != require_licensee(principal)
                             and found.child_artist != owner):
            raise ProposalNotFound(f"no lineage proposal {proposal_id!r}")
        return found

    def _addressed(self, artist: Principal, proposal_id: str) -> Proposal:
        found = self.proposal(artist, proposal_id)
        child, owner = self._lineage.child_of(found.child)
        require_owner(artist, child, owner)
        if found.status != "pending":
            raise ProposalAlreadyDecided(f"lineage proposal {proposal_id!r} was already "
                                         f"{found.status}")
        return found

    def accept(self, artist: Principal, proposal_id: str, *,
               message: str | None = None) -> tuple[Proposal, Registration]:
        """Declare the proposed edges as the child's owner; the proposer's licenses are
        the ones that allow the uses. Raises ProposalNotFound, NotLineageOwner,
        ProposalAlreadyDecided, and what ``register`` raises when the edges can no longer
        be declared (the proposal then stays pending)."""
        found = self._addressed(artist, proposal_id)
        child, owner = self._lineage.child_of(found.child)
        now = self._now()

        def mark(conn: Connection, registration: Registration) -> None:
            self._decide(conn, found, status="accepted", now_ms=now, message=message,
                         receipt_id=registration.receipt_id or "")

        registration = self._lineage.declare(
            artist, child=child, owner=owner, parents=found.parents, context=found.context,
            user=principal_from(found.principal), in_transaction=mark,
            receipt_extra={"proposal": found.id, "proposed_by": found.principal,
                           "message": message})
        return msgspec.structs.replace(
            found, status="accepted", decided_at_ms=now, decision_message=message,
            decision_receipt_id=registration.receipt_id), registration

    def decline(self, artist: Principal, proposal_id: str, *, message: str) -> Proposal:
        """Decline a pending proposal with a message the proposer reads; a receipt
        records it. Raises ProposalNotFound, NotLineageOwner, ProposalAlreadyDecided."""
        found = self._addressed(artist, proposal_id)
        now = self._now()
        receipt = self._issuer.issue("derivative-proposal-declined", {
            "principal": artist.for_receipt(),
            "request": {"action": "decline-derivative-proposal", "resource": found.child},
            "status": "declined",
            "proposal": found.id,
            "proposed_by": found.principal,
            "parents": msgspec.to_builtins(found.parents),
            "message": message,
        })
        with writing(self._engine) as conn:
            self._decide(conn, found, status="declined", now_ms=now, message=message,
                         receipt_id=receipt.jti)
            self._receipts.store_in(conn, [receipt])
        return msgspec.structs.replace(found, status="declined", decided_at_ms=now,
                                       decision_message=message,
                                       decision_receipt_id=receipt.jti)

    @staticmethod
    def _decide(conn: Connection, found: Proposal, *, status: str, now_ms: int,
                message: str | None, receipt_id: str) -> None:
        p = lineage_proposals.c
        moved = conn.execute(update(lineage_proposals)
                             .where(p.id == found.id, p.status == "pending")
                             .values(status=status, decided_at_ms=now_ms,
                                     decision_message=message,
                                     decision_receipt_id=receipt_id)).rowcount
        if moved != 1:
            raise ProposalAlreadyDecided(f"lineage proposal {found.id!r} was already decided")

    def _now(self) -> int:
        return int(self._clock() * 1000)


def _read(conn: Connection, proposal_id: str) -> Proposal | None:
    row = conn.execute(select(lineage_proposals)
                       .where(lineage_proposals.c.id == proposal_id)).first()
    return None if row is None else _proposal(row)


def _proposal(row: Any) -> Proposal:
    return Proposal(
        id=row.id, child=row.child, child_artist=row.child_artist,
        parents=msgspec.json.decode(row.parents, type=tuple[ParentLink, ...]),
        context=msgspec.json.decode(row.context), proposer=row.proposer,
        principal=msgspec.json.decode(row.principal), message=row.message,
        status=row.status, created_at_ms=row.created_at_ms, decided_at_ms=row.decided_at_ms,
        decision_message=row.decision_message, decision_receipt_id=row.decision_receipt_id)
