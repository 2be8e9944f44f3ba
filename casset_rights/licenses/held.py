"""Held grants in decisions: a licensee with a grant in force gets ``permit``.

The refiner runs after the policy engine. A principal holding a grant for the scope on
the resource, or on an enclosing one (a grant on a release covers its tracks and
hooks), in force at the request's time (``context.at``, else now), gets ``permit`` with
the grant's obligations; the reason names the grant (``rule: grant:<id>``).

Two things a grant does not override: a matching deny rule (a deny anywhere still wins;
an artist ends a license by revoking it, and the revocation is time-aware), and the
grant's territory (a request outside it, or not saying where, is not covered).

Most callers hold no license at all, so the refiner remembers, for ``fresh_seconds``,
which licensees held none and skips the database for them (and the decision skips the
trip to a worker thread): a grant made in this process counts at once (``forget``), one
made in another process within that time, as with policies and lineage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Engine, select

from casset_rights.decisions.index import Resolved
from casset_rights.decisions.recent import RecentlyEmpty
from casset_rights.licenses.models import Grant, licensee_key
from casset_rights.licenses.store import held_grants
from casset_rights.licenses.tables import license_grants
from casset_rights.policy import (
    OBLIGATION_TYPES, Decision, Obligation, Reason, Request, RuleError,
)
from casset_rights.resources import parse_resource

DEFAULT_ATTRIBUTION = "{title} by {artist}"


class HeldGrants:
    """The decision refiner for held grants (``DecisionService.add_refiner``)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time,
                 fresh_seconds: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._without = RecentlyEmpty(fresh_seconds=fresh_seconds, clock=monotonic)  # grants

    def forget(self, licensee: str) -> None:
        """``licensee`` was just granted a license here."""
        self._without.forget(licensee)

    def reads_database(self, request: Request) -> bool:
        """Only a caller who can hold licenses, and is not remembered (freshly) as
        holding none, makes this refiner look them up."""
        licensee = licensee_key(request.principal)
        return licensee is not None and licensee not in self._without

    def __call__(self, request: Request, resolved: Resolved, decision: Decision) -> Decision:
        if not self.reads_database(request):
            return decision
        licensee = licensee_key(request.principal)
        assert licensee is not None
        if not self._holds_any(licensee):
            return decision
        if decision.decision == "permit" or _denied_by_a_rule(decision):
            return decision
        grants = self.covering(licensee, request)
        if not grants:
            return decision
        return permit_by_grants(grants, request=request, resolved=resolved,
                                errors=decision.errors)

    def _holds_any(self, licensee: str) -> bool:
        """Whether the licensee holds any grant at all; remembered when not."""
        with self._engine.connect() as conn:
            found = conn.execute(select(license_grants.c.id)
                                 .where(license_grants.c.licensee == licensee).limit(1)).first()
        if found is None:
            self._without.remember(licensee)
        return found is not None

    def covering(self, licensee: str, request: Request) -> list[Grant]:
        """The licensee's grants that cover ``request`` at its time."""
        at = request.context.at
        at_ms = _ms(at) if at is not None else int(self._clock() * 1000)
        resources = [ref.id for ref in request.resource.ancestors()]
        with self._engine.connect() as conn:
            grants = held_grants(conn, licensee, resources, at_ms=at_ms)
        territory = request.context.territory
        return [g for g in grants if request.action in g.scopes
                and (g.route.territory is None or territory in g.route.territory)]


def _denied_by_a_rule(decision: Decision) -> bool:
    return decision.decision == "deny" and any(r.rule != "default-deny"
                                               for r in decision.reasons)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def permit_by_grants(grants: Sequence[Grant], *, request: Request, resolved: Resolved,
                     errors: tuple[RuleError, ...] = ()) -> Decision:
    """``permit`` with the grants' obligations (attribution rendered as the policies
    would), reasons naming each grant."""
    reasons = tuple(Reason(policy=g.route.policy, rule=f"grant:{g.id}", effect="permit",
                           level=parse_resource(g.resource).kind)
                    for g in grants)
    wanted = {o for g in grants for o in g.route.obligations}
    obligations = tuple(
        Obligation(type="attribute", text=attribution(request, resolved))  # type: ignore[arg-type]
        if o == "attribute" else Obligation(type=o)  # type: ignore[arg-type]
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
