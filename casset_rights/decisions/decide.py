"""The whole decision as one pure call: policies, held licenses and ancestors passed in.

``decide`` is to a decision what cedar's authorizer is to a request: everything it needs
comes in as arguments (the resource's policy chain, the licenses the asker holds, the
derivative's ancestors with their chains), it does no I/O, and the same arguments always
give the same answer. ``DecisionService`` gathers those arguments from memory (the rights
index, ``HeldGrants``, ``LineageIndex``) and calls it.

The semantics, in order:

1. ``authorize`` on the resource's own chain (default deny, deny wins, the most specific
   level that speaks decides).
2. Held licenses: unless a rule denied, or the policies already permit, a license the
   asker holds that covers the scope on the resource or an enclosing one, in force at the
   request's time and territory, makes the answer ``permit`` with the license's
   obligations; the reasons name those licenses (``rule: grant:<id>``), at most
   ``NAMED_GRANTS`` of them, the most recently granted, whose obligations apply.
3. Ancestors (travelling scopes only, and unless step 1-2 denied): every ancestor's own
   chain is asked the same question (and the asker's licenses on it count), then
   ``combine``: any refusal denies, any needed license makes it ``license_required`` with
   every route, else ``permit`` with the union of the obligations. An ancestor no longer
   in the catalog counts as a refusal (``ancestor-unknown``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol

import msgspec

from casset_rights.decisions.index import Resolved
from casset_rights.policy import (
    OBLIGATION_TYPES,
    TRAVELLING_SCOPES,
    Decision,
    LicenseRoute,
    Obligation,
    Reason,
    Request,
    RuleError,
    authorize,
)
from casset_rights.principal import Principal
from casset_rights.resources import ResourceRef

DEFAULT_ATTRIBUTION = "{title} by {artist}"
# The most licenses a decision names: the most recently granted of those that cover it.
# A licensee may obtain a free route again and again; naming every license it holds
# would make each of its answers, and each receipt signed, stored and logged for it,
# grow with that number.
NAMED_GRANTS = 16
TRAVELLING = frozenset(TRAVELLING_SCOPES)


class HeldGrant(msgspec.Struct, frozen=True, kw_only=True):
    """A license as a decision needs it (the token and receipt stay in the database).

    In force at ``t`` when granted by then and neither revoked nor expired by then; it
    covers a request for one of ``scopes`` on ``resource`` or inside it, in one of
    ``territory`` (``None``: anywhere; a request not saying where is not covered by a
    territorial license).
    """

    id: str
    resource: ResourceRef
    scopes: frozenset[str]
    policy: str
    obligations: tuple[str, ...]
    territory: frozenset[str] | None
    granted_at_ms: int
    expires_at_ms: int | None
    revoked_at_ms: int | None

    def in_force(self, at_ms: int) -> bool:
        return (self.granted_at_ms <= at_ms
                and (self.revoked_at_ms is None or at_ms < self.revoked_at_ms)
                and (self.expires_at_ms is None or at_ms < self.expires_at_ms))

    def covers(self, request: Request, at_ms: int) -> bool:
        """Whether it covers ``request`` at ``at_ms``, its resource known to contain
        the request's (``Holdings`` files it under its resource id)."""
        return (request.action in self.scopes
                and (self.territory is None or request.context.territory in self.territory)
                and self.in_force(at_ms))


# One licensee's grants by the id of the resource each is on (``release:R``, ...).
Holdings = Mapping[str, Sequence[HeldGrant]]
NO_HOLDINGS: Holdings = {}


class Ancestor(msgspec.Struct, frozen=True):
    """A resource upstream of a derivative, ``depth`` edges away; ``resolved`` is its
    place in the catalog and policy chain, ``None`` when it is no longer in the catalog."""

    node: ResourceRef
    depth: int
    resolved: Resolved | None


class GrantSource(Protocol):
    def held_by(self, principal: Principal) -> Holdings:
        """Every license ``principal`` holds (in force or not), from memory."""
        ...


class AncestorSource(Protocol):
    def ancestors(self, ref: ResourceRef) -> Sequence[tuple[ResourceRef, int]]:
        """Every resource upstream of ``ref`` with its smallest depth, nearest first,
        from memory."""
        ...


def decide(resolved: Resolved, request: Request, *, grants: Holdings = NO_HOLDINGS,
           ancestors: Sequence[Ancestor] = (), at_ms: int) -> Decision:
    """The decision on ``request`` (its ``title`` and ``artist_name`` filled in) under
    ``resolved``'s chain, the asker's ``grants`` and the resource's ``ancestors``
    (nearest first), at ``at_ms``. Raises UnknownScope and InvalidInput as ``authorize``
    does; never does I/O."""
    own = _with_grants(authorize(resolved.chain, request), request, resolved, grants, at_ms)
    if not ancestors or request.action not in TRAVELLING or own.decision == "deny":
        return own
    return combine(own, [(a.node.id, _ancestor_decision(a, request, grants, at_ms))
                         for a in ancestors])


def _ancestor_decision(ancestor: Ancestor, request: Request, grants: Holdings,
                       at_ms: int) -> Decision:
    resolved = ancestor.resolved
    if resolved is None:
        return Decision(decision="deny", reasons=(Reason(rule="ancestor-unknown",
                                                         effect="deny"),))
    asked = msgspec.structs.replace(request, resource=ancestor.node, title=resolved.title,
                                    artist_name=resolved.release.artist_name)
    return _with_grants(authorize(resolved.chain, asked), asked, resolved, grants, at_ms)


def _with_grants(decision: Decision, request: Request, resolved: Resolved,
                 grants: Holdings, at_ms: int) -> Decision:
    if not grants or decision.decision == "permit" or _denied_by_a_rule(decision):
        return decision
    covering: list[HeldGrant] = []
    for key in enclosing_ids(request.resource):
        found = 0
        for g in reversed(grants.get(key, ())):  # each resource's, newest first
            if g.covers(request, at_ms):
                covering.append(g)
                found += 1
                if found == NAMED_GRANTS:
                    break
    if not covering:
        return decision
    covering.sort(key=lambda g: (g.granted_at_ms, g.id))
    return permit_by_grants(covering[-NAMED_GRANTS:], request=request, resolved=resolved,
                            errors=decision.errors)


@functools.lru_cache(maxsize=65536)
def enclosing_ids(ref: ResourceRef) -> tuple[str, ...]:
    """The ids of the release, track and hook ``ref`` lies in (itself included)."""
    return tuple(r.id for r in ref.ancestors())


def _denied_by_a_rule(decision: Decision) -> bool:
    return decision.decision == "deny" and any(r.rule != "default-deny"
                                               for r in decision.reasons)


def at_ms_of(at: datetime | None, now_ms: int) -> int:
    """The request's time in epoch milliseconds (``context.at``, else now)."""
    return now_ms if at is None else int(at.timestamp() * 1000)


def permit_by_grants(grants: Sequence[HeldGrant], *, request: Request, resolved: Resolved,
                     errors: tuple[RuleError, ...] = ()) -> Decision:
    """``permit`` with the licenses' obligations (attribution rendered as the policies
    would), reasons naming each license (``grants`` are those the decision names)."""
    reasons = tuple(Reason(policy=g.policy, rule=f"grant:{g.id}", effect="permit",
                           level=g.resource.kind) for g in grants)
    wanted = {o for g in grants for o in g.obligations}
    obligations = tuple(
        Obligation(type="attribute", text=attribution(request, resolved))
        if o == "attribute" else Obligation(type=o)
        for o in OBLIGATION_TYPES if o in wanted)
    return Decision(decision="permit", reasons=reasons, obligations=obligations, errors=errors)


def attribution(request: Request, resolved: Resolved) -> str:
    """The attribution text of the most specific policy in the chain that has one."""
    template = next((p.attribution for p in reversed(resolved.chain) if p.attribution),
                    DEFAULT_ATTRIBUTION)
    resource = request.resource.id
    return (template.replace("{title}", request.title or resource)
            .replace("{artist}", request.artist_name or resolved.release.artist_id)
            .replace("{resource}", resource))


def _marked(node: str, decision: Decision) -> tuple[Reason, ...]:
    effect: Literal["permit", "deny", "route"] = (
        "route" if decision.decision == "license_required" else decision.decision)
    return (Reason(rule=f"ancestor:{node}", effect=effect), *decision.reasons)


def combine(own: Decision, verdicts: Sequence[tuple[str, Decision]]) -> Decision:
    """The decision on a derivative from its own and its ancestors' (nearest first)."""
    errors = own.errors + tuple(e for _, d in verdicts for e in d.errors)
    denied = [(n, d) for n, d in verdicts if d.decision == "deny"]
    if denied:
        return Decision(decision="deny",
                        reasons=tuple(r for n, d in denied for r in _marked(n, d)),
                        errors=errors)
    needing = [(n, d) for n, d in verdicts if d.decision == "license_required"]
    if needing or own.decision == "license_required":
        routes: dict[tuple[str, str], LicenseRoute] = {}
        for route in (*own.license_routes,
                      *(r for _, d in needing for r in d.license_routes)):
            routes.setdefault((route.policy, route.name), route)
        reasons = (own.reasons if own.decision == "license_required" else ()) + tuple(
            r for n, d in needing for r in _marked(n, d))
        return Decision(decision="license_required", reasons=reasons,
                        license_routes=tuple(sorted(routes.values(),
                                                    key=lambda r: (r.name, r.policy))),
                        errors=errors)
    obligations: list[Obligation] = []
    for kind in OBLIGATION_TYPES:
        for decision in (own, *(d for _, d in verdicts)):
            for obligation in decision.obligations:
                if obligation.type == kind and obligation not in obligations:
                    obligations.append(obligation)
    return Decision(decision="permit",
                    reasons=own.reasons + tuple(r for n, d in verdicts for r in _marked(n, d)),
                    obligations=tuple(obligations), errors=errors)
