"""Lineage-aware decisions: a derivative is only as free as its ancestors.

For the scopes that travel (sample, remix, interpret, sync, ai-input, ai-train), a
decision on a resource with ancestors also asks every ancestor's policy (and the grants
the principal holds on it) the same question. The answer:

* ``deny`` when the resource's own policy or any ancestor denies; the reasons name each
  refusing ancestor (``rule: ancestor:<resource>``) followed by its own reasons;
* else ``license_required`` when any of them needs a license, with every route the asker
  must obtain (its own and the ancestors'), each ancestor named the same way;
* else ``permit``, with the union of the obligations (each ancestor's attribution too).

Nothing changes for a resource without ancestors or a scope that does not travel. An
ancestor no longer in the catalog counts as a refusal (``ancestor-unknown``).

Most releases are no derivative, so the refiner remembers, for ``fresh_seconds``, which
releases had no edges at all and skips the walk for them: a derivative registered in
this process counts at once (``forget``), one registered in another process within that
time, like a policy change reaching the rights index.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Literal

import msgspec
from sqlalchemy import Connection, Engine, select

from casset_rights.decisions.index import RightsIndex, Resolved
from casset_rights.decisions.recent import RecentlyEmpty
from casset_rights.errors import UnknownResource
from casset_rights.lineage.graph import ancestor_ids, in_force
from casset_rights.lineage.tables import lineage_edges
from casset_rights.policy import (
    OBLIGATION_TYPES, TRAVELLING_SCOPES, Decision, LicenseRoute, Obligation, Reason, Request,
    authorize,
)
from casset_rights.resources import parse_resource

BaseRefiner = Callable[[Request, Resolved, Decision], Decision]
ANCESTOR_DEPTH = 100
_TRAVELLING = frozenset(TRAVELLING_SCOPES)


class LineageRefiner:
    """The decision refiner for ancestors (``DecisionService.add_refiner``).

    ``base_refiners`` are applied to each ancestor's own decision (held grants), so a
    license from an upstream artist counts; this refiner itself is not (the walk already
    reaches every ancestor).
    """

    def __init__(self, engine: Engine, index: RightsIndex, *,
                 base_refiners: Sequence[BaseRefiner] = (), fresh_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._index = index
        self._base = tuple(base_refiners)
        self._without = RecentlyEmpty(fresh_seconds=fresh_seconds, clock=clock)  # of edges

    def forget(self, release_key: str) -> None:
        """The edges of ``release_key`` (``release:R``) just changed here (an edge
        registered or withdrawn)."""
        self._without.forget(release_key)

    def __call__(self, request: Request, resolved: Resolved, decision: Decision) -> Decision:
        if not self.reads_database(request):
            return decision
        release = f"release:{request.resource.release_id}"
        with self._engine.connect() as conn:
            # Asked even when the resource's own policy denies (a deny needs no walk), so
            # the release is remembered and the next ask needs no database at all.
            if not _has_edges(conn, release):
                self._without.remember(release)
                return decision
            if decision.decision == "deny":
                return decision
            upstream = ancestor_ids(conn, request.resource, max_depth=ANCESTOR_DEPTH)
        if not upstream:
            return decision
        verdicts = [(node, self._ancestor_decision(request, node))
                    for node in sorted(upstream, key=lambda n: (upstream[n], n))]
        return combine(decision, verdicts)

    def reads_database(self, request: Request) -> bool:
        """False when the walk is skipped without asking: a scope that does not travel,
        or a release remembered (freshly) as having no ancestors."""
        return (request.action in _TRAVELLING
                and f"release:{request.resource.release_id}" not in self._without)

    def _ancestor_decision(self, request: Request, node: str) -> Decision:
        ref = parse_resource(node)
        try:
            resolved = self._index.resolve(ref)
        except UnknownResource:
            return Decision(decision="deny", reasons=(
                Reason(rule="ancestor-unknown", effect="deny"),))
        release = resolved.release
        asked = msgspec.structs.replace(
            request, resource=ref, title=release.titles.get(ref.path, release.title),
            artist_name=release.artist_name)
        decision = authorize(resolved.chain, asked)
        for refine in self._base:
            decision = refine(asked, resolved, decision)
        return decision


def _has_edges(conn: Connection, release: str) -> bool:
    """Whether anything in the release is a derivative (an index look-up)."""
    e = lineage_edges
    return conn.execute(select(e.c.child).where(e.c.child_release == release, in_force(e))
                        .limit(1)).first() is not None


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
