"""Held licenses, in memory: what a decision needs to know of every grant.

``HeldGrants`` keeps, per licensee, each grant's resource, scopes, territory, obligations
and its granted, expiry and revocation times (``decisions.decide.HeldGrant``); the
decision then asks ``held_by(principal)`` and reads no database. A grant counts in the
decision semantics of ``decisions.decide`` (a deny rule still wins; revocation and
expiry are time-aware, so a past ``context.at`` is judged by the grants of that time).

Freshness (``decisions.changes``): a grant or revocation made in this process counts at
the next decision (``reload_key`` of that grant, called by the writer once committed);
one made in another process within a second on SQLite (``generation``: the number of
grants plus the number of revocations, both only growing, as grants are never deleted),
within milliseconds on PostgreSQL (the ``license_grants`` trigger's notification, which
names the grant: that one row is read).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, func, select

from casset_rights.decisions.decide import NO_HOLDINGS, HeldGrant, Holdings
from casset_rights.licenses.models import licensee_key
from casset_rights.licenses.tables import license_grants
from casset_rights.policy import LicenseRoute
from casset_rights.principal import Principal
from casset_rights.resources import parse_resource

_g = license_grants.c
_COLUMNS = (_g.licensee, _g.id, _g.resource, _g.scopes, _g.terms, _g.granted_at_ms,
            _g.expires_at_ms, _g.revoked_at_ms)
_decode_scopes = msgspec.json.Decoder(list[str]).decode
_decode_route = msgspec.json.Decoder(LicenseRoute).decode


class HeldGrants:
    """Every licensee's grants, in memory (a follower of ``license_grants``)."""

    tables: tuple[str, ...] = ("license_grants",)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._by_licensee: dict[str, Holdings] = {}
        # Every grant decoded so far, by id, with the two columns that change after a
        # grant is made (revocation, expiry): a licensee's reload decodes only the rows
        # that are new or changed, not every grant it holds again.
        self._decoded: dict[str, tuple[int | None, int | None, HeldGrant]] = {}
        self._lock = threading.Lock()

    # -- the request path -----------------------------------------------------------

    def held_by(self, principal: Principal) -> Holdings:
        """The principal's grants by resource id, in force or not (none for the
        public)."""
        key = licensee_key(principal)
        return NO_HOLDINGS if key is None else self._by_licensee.get(key, NO_HOLDINGS)

    # -- freshness ------------------------------------------------------------------

    def generation(self, conn: Connection) -> tuple[int, int]:
        grants, revoked = conn.execute(select(func.count(), func.count(_g.revoked_at_ms))
                                       .select_from(license_grants)).one()
        return grants, revoked

    def reload(self) -> None:
        with self._lock, self._engine.connect() as conn:
            grouped: dict[str, list[HeldGrant]] = {}
            decoded: dict[str, tuple[int | None, int | None, HeldGrant]] = {}
            for row in conn.execute(select(*_COLUMNS)):
                grant = _held(row)
                decoded[grant.id] = (row.revoked_at_ms, row.expires_at_ms, grant)
                grouped.setdefault(row[0], []).append(grant)
            self._decoded = decoded
            self._by_licensee = {k: _holdings(v) for k, v in grouped.items()}

    def reload_key(self, table: str, key: str) -> None:
        """Reload what ``key`` names: ``"<licensee> <grant id>"`` (a notification, or
        the writer once committed) reads that one grant; a licensee alone
        (``client:<id>`` or ``artist:<id>``) reads all of its grants."""
        licensee, _, grant_id = key.partition(" ")
        if grant_id:
            self._reload_grant(grant_id)
        else:
            self._reload_licensee(licensee)

    def _reload_grant(self, grant_id: str) -> None:
        with self._lock, self._engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(_g.id == grant_id)).one_or_none()
            if row is None:  # grants are never deleted: one not yet visible here
                return
            known = self._decoded.get(grant_id)
            if known is not None and known[:2] == (row.revoked_at_ms, row.expires_at_ms):
                return  # already held as it is (the writer's own reload, then its echo)
            grant = _held(row)
            self._decoded[grant_id] = (row.revoked_at_ms, row.expires_at_ms, grant)
            holdings = self._by_licensee.get(row.licensee, NO_HOLDINGS)
            same = holdings.get(grant.resource.id, ())
            if known is not None:
                same = tuple(g for g in same if g.id != grant_id)
            at = bisect.bisect(same, _order(grant), key=_order)
            # A new mapping for the licensee, set at once: readers take no lock.
            self._by_licensee[row.licensee] = {
                **holdings, grant.resource.id: (*same[:at], grant, *same[at:])}

    def _reload_licensee(self, key: str) -> None:
        with self._lock, self._engine.connect() as conn:
            known = self._decoded
            held: list[HeldGrant] = []
            for row in conn.execute(select(*_COLUMNS).where(_g.licensee == key)):
                hit = known.get(row.id)
                if hit is None or hit[:2] != (row.revoked_at_ms, row.expires_at_ms):
                    hit = known[row.id] = (row.revoked_at_ms, row.expires_at_ms, _held(row))
                held.append(hit[2])
            grants = _holdings(held)
            # One key replaced in place (readers take no lock: a dict item is set or
            # popped atomically); writers are serialised by the lock.
            if grants:
                self._by_licensee[key] = grants
            else:
                self._by_licensee.pop(key, None)


def _order(grant: HeldGrant) -> tuple[int, str]:
    """A resource's grants in the order they were made."""
    return grant.granted_at_ms, grant.id


def _holdings(grants: Iterable[HeldGrant]) -> Holdings:
    by_resource: dict[str, list[HeldGrant]] = {}
    for grant in grants:
        by_resource.setdefault(grant.resource.id, []).append(grant)
    return {key: tuple(sorted(found, key=_order))
            for key, found in by_resource.items()}


def _held(row: Any) -> HeldGrant:
    route = _decode_route(row.terms)
    return HeldGrant(id=row.id, resource=parse_resource(row.resource),
                     scopes=frozenset(_decode_scopes(row.scopes)), policy=route.policy,
                     obligations=route.obligations,
                     territory=None if route.territory is None else frozenset(route.territory),
                     granted_at_ms=row.granted_at_ms, expires_at_ms=row.expires_at_ms,
                     revoked_at_ms=row.revoked_at_ms)
