"""Declaring derivatives, and reading the graph: nodes, edges, attribution, royalties.

``register`` records that a child (release, track or hook) uses its parents; only the
child's owner (its artist, or a client acting for the artist) declares them, and only
the owner ``withdraw``s an edge. Anyone else proposes (``lineage.proposals``). Each parent
edge needs the use to be permitted: freely by the parent's policy (and every ancestor's,
for the scopes that travel), or by a license the registrant holds, named in the edge or
found among its grants. The license's revenue share becomes the edge's. Refused: an
unknown parent, a license that does not cover the relationship's scope, an edge that
would close a cycle, parents taking more than all of a resource's revenue. Registering
an edge that exists changes nothing.

Writes are serialised (a PostgreSQL advisory lock, SQLite's write lock) so two
registrations cannot close a cycle between them. Each write and its receipt commit in one
transaction.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, text

from casset_rights import idempotency
from casset_rights.db.engine import writing
from casset_rights.decisions.index import RightsIndex
from casset_rights.decisions.service import DecisionService
from casset_rights.errors import FieldError, InvalidInput, UnknownResource
from casset_rights.idempotency import Claim
from casset_rights.licenses import store as license_store
from casset_rights.licenses.service import require_licensee
from casset_rights.lineage import graph
from casset_rights.lineage.errors import (
    EdgeNotFound,
    GrantDoesNotCover,
    GrantRequired,
    LineageCycle,
    NotLineageOwner,
    RevenueShareExceeded,
    UnknownParent,
)
from casset_rights.lineage.graph import PPM, RELATIONSHIP_SCOPES, Direction, Edge
from casset_rights.lineage.models import LineageView, ParentLink, Plan, Registration
from casset_rights.lineage.reading import DEFAULT_DEPTH, MAX_EDGES, read_lineage
from casset_rights.lineage.royalties import ppm_of_percent
from casset_rights.policy import Decision, build_request, parse_context
from casset_rights.principal import Principal
from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore
from casset_rights.resources import ResourceRef, parse_resource

# pg_advisory_xact_lock key for lineage writes: first 8 bytes of SHA-256("casset_rights.lineage").
ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"casset_rights.lineage").digest()[:8], "big", signed=True)


def require_owner(principal: Principal, child: ResourceRef, owner: str) -> None:
    """Raises NotLineageOwner unless ``principal`` is the owner's artist principal (the
    artist's own client, or a client the artist authorised)."""
    if principal.kind != "artist" or principal.subject != owner:
        raise NotLineageOwner(
            f"only the artist of {child.id} (or a client acting for them) declares its "
            "parents; propose the edge instead (POST /v1/derivatives/proposals)")


# Built once, here: see casset_rights.idempotency on why not per call.
REGISTRATION = msgspec.json.Decoder(Registration)
EDGE = msgspec.json.Decoder(Edge)


class LineageService:
    def __init__(self, *, engine: Engine, index: RightsIndex, decisions: DecisionService,
                 issuer: ReceiptIssuer, receipts: ReceiptStore,
                 on_registered: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``on_registered`` hears the release (``release:R``) of each child that got
        new edges (the lineage refiner forgets it had none)."""
        self._engine = engine
        self._on_registered = on_registered
        self._index = index
        self._decisions = decisions
        self._issuer = issuer
        self._receipts = receipts
        self._clock = clock

    # -- declaring --------------------------------------------------------------------

    def register(self, principal: Principal, *, child: str, parents: Sequence[ParentLink],
                 context: Mapping[str, Any] | None = None,
                 claim: Claim | None = None) -> Registration:
        """Record ``child``'s parents, as its owner. The owner's own licenses are the ones
        that allow the uses. With ``claim``, a retry under the same key answers the first
        registration again (even after an edge was withdrawn since).

        Raises Unauthenticated, UnknownResource (child), NotLineageOwner (anyone but the
        child's artist or a client acting for them: they propose instead),
        UnknownParent, GrantDoesNotCover, GrantRequired, LineageCycle,
        RevenueShareExceeded and IdempotencyKeyReused."""
        require_licensee(principal)
        child_ref, owner = self.child_of(child)
        require_owner(principal, child_ref, owner)
        return idempotency.settled(self._engine, claim, REGISTRATION, lambda: self.declare(
            principal, child=child_ref, owner=owner, parents=parents, context=context,
            user=principal, claim=claim))

    def child_of(self, child: str) -> tuple[ResourceRef, str]:
        """The child's id and its owner (an artist id). Raises InvalidInput and
        UnknownResource."""
        child_ref = parse_resource(child)
        return child_ref, self._index.resolve(child_ref).release.artist_id

    def plan(self, user: Principal, *, child: ResourceRef, owner: str,
             parents: Sequence[ParentLink], context: Mapping[str, Any] | None) -> Plan:
        """Check the edges ``user`` would have declared (parents known, no cycle, each
        use permitted to ``user``) without writing anything. Raises as ``register``."""
        registrant = require_licensee(user)
        if not parents:
            raise InvalidInput("a derivative names at least one parent",
                               errors=[FieldError("/parents", "at least one parent")])
        ctx = parse_context(context)
        links = self._parents(child, parents)
        keys = [(child.id, ref.id, link.relationship) for ref, link in links]
        with self._engine.connect() as conn:
            found = graph.existing(conn, keys)
            for ref, link in links:  # refused before any permission is looked at
                if (child.id, ref.id, link.relationship) not in found:
                    self._refuse_cycle(conn, child, ref)
        now = int(self._clock() * 1000)
        new: list[tuple[Edge, ResourceRef]] = []
        for position, (ref, link) in enumerate(links):
            if (child.id, ref.id, link.relationship) in found:
                continue
            grant_id, share = self._permission(user, registrant, ref, link, ctx,
                                               pointer=f"/parents/{position}")
            parent_artist = self._index.release(ref.release_id).artist_id
            new.append((Edge(child=child.id, parent=ref.id,
                             relationship=link.relationship, child_artist=owner,
                             parent_artist=parent_artist, grant_id=grant_id,
                             revenue_share_ppm=share, registered_by=registrant,
                             registered_at_ms=now), ref))
        return Plan(context=msgspec.to_builtins(ctx), keys=tuple(keys), found=found, new=new)

    def declare(self, acting: Principal, *, child: ResourceRef, owner: str,
                parents: Sequence[ParentLink], context: Mapping[str, Any] | None,
                user: Principal, claim: Claim | None = None,
                receipt_extra: Mapping[str, Any] | None = None,
                in_transaction: Callable[[Connection, Registration], None] | None = None,
                ) -> Registration:
        """Write the edges of ``plan(user, …)`` with their receipt (signed for
        ``acting``, the owner) in one transaction: both commit or neither does.
        ``in_transaction`` runs in it (accepting a proposal marks the proposal there);
        with it, the receipt is written even when every edge existed already."""
        planned = self.plan(user, child=child, owner=owner, parents=parents, context=context)
        keys, new = list(planned.keys), planned.new
        if not new and claim is None and in_transaction is None:
            return Registration(child=child.id, edges=tuple(planned.found[k] for k in keys),
                                created=tuple(False for _ in keys), receipt_id=None)
        receipt = self._issuer.issue("derivative", {
            "principal": acting.for_receipt(),
            "request": {"action": "register-derivative", "resource": child.id,
                        "context": planned.context},
            "status": "registered",
            "edges": [{"id": e.id, "parent": e.parent, "relationship": e.relationship,
                       "grant": e.grant_id, "revenue_share_ppm": e.revenue_share_ppm}
                      for e, _ in new],
            **(receipt_extra or {}),
        })
        new = [(msgspec.structs.replace(e, receipt_id=receipt.jti), ref) for e, ref in new]
        with writing(self._engine) as conn:
            self._lock(conn)
            stored = graph.existing(conn, [e.key for e, _ in new])
            new = [(e, ref) for e, ref in new if e.key not in stored]
            for _, ref in new:
                self._refuse_cycle(conn, child, ref)
            self._refuse_overdrawn(conn, child, [e for e, _ in new])
            graph.insert_edges(conn, [graph.edge_row(e, child=child, parent=ref)
                                      for e, ref in new])
            found = graph.existing(conn, keys)
            created = {e.key for e, _ in new}
            written = bool(new) or in_transaction is not None
            registration = Registration(
                child=child.id, edges=tuple(found[k] for k in keys),
                created=tuple(k in created for k in keys),
                receipt_id=receipt.jti if written else None)
            if in_transaction is not None:
                in_transaction(conn, registration)
            idempotency.remember_in(conn, claim, registration)
            if written:
                self._receipts.store_in(conn, [receipt])
        if new and self._on_registered is not None:
            self._on_registered(f"release:{child.release_id}")
        return registration

    def withdraw(self, principal: Principal, *, child: str, parent: str,
                 relationship: str, reason: str, claim: Claim | None = None) -> Edge:
        """Withdraw the edge in force from ``child`` to ``parent``, as the child's owner:
        the edge stays in the graph's history, marked with the time and the receipt of
        its withdrawal, and stops counting for decisions at once. With ``claim``, a retry
        under the same key answers the first withdrawal again.

        Raises Unauthenticated, InvalidInput, UnknownResource, NotLineageOwner,
        EdgeNotFound (no such edge in force) and IdempotencyKeyReused."""
        require_licensee(principal)
        child_ref, owner = self.child_of(child)
        require_owner(principal, child_ref, owner)
        key = (child_ref.id, parse_resource(parent).id, relationship)
        return idempotency.settled(self._engine, claim, EDGE, lambda: self._withdraw(
            principal, child_ref, key, reason, claim))

    def _withdraw(self, principal: Principal, child: ResourceRef, key: tuple[str, str, str],
                  reason: str, claim: Claim | None) -> Edge:
        with self._engine.connect() as conn:
            edge = graph.existing(conn, [key]).get(key)
        if edge is None:
            raise EdgeNotFound(f"no edge in force from {key[0]} to {key[1]} as {key[2]}")
        now = int(self._clock() * 1000)
        receipt = self._issuer.issue("derivative-withdrawal", {
            "principal": principal.for_receipt(),
            "request": {"action": "withdraw-derivative", "resource": child.id},
            "status": "withdrawn",
            "edge": {"id": edge.id, "parent": edge.parent, "relationship": edge.relationship,
                     "grant": edge.grant_id, "revenue_share_ppm": edge.revenue_share_ppm,
                     "receipt": edge.receipt_id},
            "reason": reason,
        })
        withdrawn = msgspec.structs.replace(edge, withdrawn_at_ms=now,
                                            withdrawal_receipt_id=receipt.jti)
        with writing(self._engine) as conn:
            self._lock(conn)
            if not graph.withdraw(conn, key, now_ms=now, receipt_id=receipt.jti):
                raise EdgeNotFound(f"the edge from {key[0]} to {key[1]} as {key[2]} was "
                                   "already withdrawn")
            idempotency.remember_in(conn, claim, withdrawn)
            self._receipts.store_in(conn, [receipt])
        if self._on_registered is not None:
            self._on_registered(f"release:{child.release_id}")
        return withdrawn

    def history(self, child: str) -> list[Edge]:
        """Every edge ever declared for ``child`` (withdrawn ones marked), oldest first.
        Raises InvalidInput for a malformed id."""
        ref = parse_resource(child)
        with self._engine.connect() as conn:
            return graph.history(conn, ref.id)

    def _parents(self, child: ResourceRef, parents: Sequence[ParentLink]) -> list[
            tuple[ResourceRef, ParentLink]]:
        out: dict[tuple[str, str], tuple[ResourceRef, ParentLink]] = {}
        errors: list[FieldError] = []
        for position, link in enumerate(parents):
            pointer = f"/parents/{position}/resource"
            try:
                ref = parse_resource(link.resource)
                self._index.resolve(ref)
            except UnknownResource as exc:
                errors.append(FieldError(pointer, f"unknown parent: {exc.detail}"))
                continue
            except InvalidInput as exc:
                errors.append(FieldError(pointer, exc.detail))
                continue
            if ref.release_id == child.release_id:
                raise LineageCycle(f"{child.id} cannot derive from {ref.id}: they are parts of "
                                   "the same release")
            out.setdefault((ref.id, link.relationship), (ref, link))
        if errors:
            raise UnknownParent("; ".join(e.message for e in errors), errors=errors)
        return list(out.values())

    def _permission(self, user: Principal, registrant: str, parent: ResourceRef,
                    link: ParentLink, ctx: Any, *, pointer: str) -> tuple[str | None, int]:
        """The license allowing the use (None when the policies permit it freely) and
        the revenue share it gives the parent, in ppm."""
        scope = RELATIONSHIP_SCOPES[link.relationship]
        decision, _ = self._decisions.evaluate(
            build_request(scope, parent, principal=user, context=ctx))
        grant_id = link.grant or _grant_in(decision)
        if grant_id is not None:
            share = self._check_grant(grant_id, registrant, parent, scope,
                                      pointer=f"{pointer}/grant")
        if decision.decision != "permit":
            raise GrantRequired(
                f"{link.relationship} of {parent.id} needs {scope}, which is "
                f"{decision.decision} for you ({_why(decision)})"
                + ("" if link.grant else "; name the license that allows it"),
                errors=[FieldError(f"{pointer}/grant", "a license covering "
                                   f"{scope} of {parent.id} is required")])
        return (grant_id, share) if grant_id is not None else (None, 0)

    def _check_grant(self, grant_id: str, registrant: str, parent: ResourceRef, scope: str,
                     *, pointer: str) -> int:
        with self._engine.connect() as conn:
            grant = license_store.read_grant(conn, grant_id)

        def refuse(message: str) -> GrantDoesNotCover:
            return GrantDoesNotCover(message, errors=[FieldError(pointer, message)])

        if grant is None or grant.licensee != registrant:
            raise refuse(f"you hold no license {grant_id!r}")
        active, reason = grant.status_at(int(self._clock() * 1000))
        if not active:
            raise refuse(f"license {grant_id} is {reason.replace('_', ' ')}")
        if not parse_resource(grant.resource).contains(parent):
            raise refuse(f"license {grant_id} covers {grant.resource}, not {parent.id}")
        if scope not in grant.scopes:
            raise refuse(f"license {grant_id} covers {', '.join(grant.scopes)}; "
                         f"this use needs {scope}")
        return ppm_of_percent(grant.route.revenue_share_percent)

    def _lock(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})

    def _refuse_cycle(self, conn: Connection, child: ResourceRef, parent: ResourceRef) -> None:
        upstream = graph.ancestor_ids(conn, parent, max_depth=graph.WALK_LIMIT)
        for node in sorted(upstream, key=lambda n: (upstream[n], n)):
            ref = parse_resource(node)
            if child.contains(ref) or ref.contains(child):
                raise LineageCycle(f"{child.id} cannot derive from {parent.id}: {node} is "
                                   f"already upstream of {parent.id}, so the edge would "
                                   "close a cycle")

    def _refuse_overdrawn(self, conn: Connection, child: ResourceRef, new: Sequence[Edge]) -> None:
        rows = graph.edges_within_release(conn, f"release:{child.release_id}") + list(new)
        refs = {e.child: parse_resource(e.child) for e in rows}
        for node, ref in refs.items():
            taken = sum(e.revenue_share_ppm for e in rows if refs[e.child].contains(ref))
            if taken > PPM:
                raise RevenueShareExceeded(
                    f"the parents of {node} would take {taken / 10_000:g}% of its revenue; "
                    "at most 100% can be shared")

    # -- reading ----------------------------------------------------------------------

    def lineage(self, resource: str, *, direction: Direction = "ancestors",
                depth: int = DEFAULT_DEPTH, revenue: int | None = None,
                currency: str | None = None, limit: int = MAX_EDGES) -> LineageView:
        """The graph around ``resource`` (``reading.read_lineage``, which says what it
        answers and raises)."""
        return read_lineage(self._engine, self._index, resource, direction=direction,
                            depth=depth, revenue=revenue, currency=currency, limit=limit)


def _grant_in(decision: Decision) -> str | None:
    """The license the permit on the parent itself rests on (the held-grants refiner
    names it; reasons after an ``ancestor:`` marker are the ancestors')."""
    if decision.decision != "permit":
        return None
    for reason in decision.reasons:
        if reason.rule.startswith("ancestor:"):
            return None
        if reason.rule.startswith("grant:"):
            return reason.rule[len("grant:"):]
    return None


def _why(decision: Decision) -> str:
    reasons = ", ".join(f"{r.policy}#{r.rule}" if r.policy else r.rule
                        for r in decision.reasons)
    routes = ", ".join(r.name for r in decision.license_routes)
    return reasons + (f"; routes: {routes}" if routes else "")
