"""Held licenses, in memory: what a decision needs to know of every grant.

``HeldGrants`` keeps, per licensee, each grant's resource, scopes, territory, obligations
and its granted, expiry and revocation times (``decisions.decide.HeldGrant``); the
decision then asks ``held_by(principal)`` and reads no database. A grant counts in the
decision semantics of ``decisions.decide`` (a deny rule still wins; revocation and
expiry are time-aware, so a past ``context.at`` is judged by the grants of that time).

Freshness (``decisions.changes``): a grant or revocation made in this process counts at
the next decision (``hold``, called by the writer once committed: a new grant is held
from the writer's copy, a changed one read back); one made in another process within a
second on SQLite (``generation``: the number of grants plus the number of revocations,
both only growing, as grants are never deleted), within milliseconds on PostgreSQL (the
``license_grants`` trigger's notification, which carries the grant: no read, unless the
grant did not fit in a notification).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, func, select

from casset_rights.decisions.decide import NO_HOLDINGS, HeldGrant, Holdings
from casset_rights.licenses.models import Grant, licensee_key
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
        """Bring what ``key`` names up to date. A grant's notification (PostgreSQL's
        trigger, ``decisions.tables.GRANT_CHANGE_FUNCTION``) is ``"<licensee> <grant id>
        <revoked at> <expires at> <row>"``: a grant already held in that state costs
        nothing, otherwise it is decoded from the row the notification carries, and read
        from the database only when the row did not fit. A licensee alone
        (``client:<id>`` or ``artist:<id>``) reads all of its grants."""
        parts = key.split(" ", 4)
        if len(parts) == 1:
            self._reload_licensee(key)
            return
        grant_id = parts[1]
        state = (_millis(parts[2]), _millis(parts[3])) if len(parts) >= 4 else None
        with self._lock:
            known = self._decoded.get(grant_id)
            if known is not None and state is not None and known[:2] == state:
                return  # held as it is: the writer's own notification, or a repeat
            if len(parts) == 5 and state is not None:
                row = msgspec.json.decode(parts[4], type=_NotifiedRow)
                self._place(parts[0], _held_from(grant_id, row.resource, row.scopes,
                                                 row.terms, row.granted_at_ms, *state), known)
                return
            with self._engine.connect() as conn:
                found = conn.execute(select(*_COLUMNS).where(_g.id == grant_id)).one_or_none()
            if found is None:  # deleted (grants are not), or not yet visible here
                if known is not None:
                    self._drop(parts[0], known[2])
                return
            if known is None or known[:2] != (found.revoked_at_ms, found.expires_at_ms):
                self._place(found.licensee, _held(found), known)

    def hold(self, licensee: str, grant: HeldGrant) -> None:
        """A grant this process has just committed, held at once without a read (its
        notification may have come first: then it is held already). A change to a
        grant held in another state (a revocation) is read back (``reload_key``), so
        that a later change another process made is never replaced by this one."""
        with self._lock:
            known = self._decoded.get(grant.id)
            if known is None:
                self._place(licensee, grant, None)
                return
            if known[:2] == (grant.revoked_at_ms, grant.expires_at_ms):
                return
        self.reload_key("license_grants", f"{licensee} {grant.id}")

    def _drop(self, licensee: str, grant: HeldGrant) -> None:
        """Hold ``grant`` no more; the lock is held."""
        del self._decoded[grant.id]
        holdings = dict(self._by_licensee.get(licensee, NO_HOLDINGS))
        rest = tuple(g for g in holdings.pop(grant.resource.id, ()) if g.id != grant.id)
        if rest:
            holdings[grant.resource.id] = rest
        if holdings:
            self._by_licensee[licensee] = holdings
        else:
            self._by_licensee.pop(licensee, None)

    def _place(self, licensee: str, grant: HeldGrant,
               known: tuple[int | None, int | None, HeldGrant] | None) -> None:
        """Hold ``grant`` (replacing ``known``, its previous state); the lock is held."""
        self._decoded[grant.id] = (grant.revoked_at_ms, grant.expires_at_ms, grant)
        holdings = self._by_licensee.get(licensee, NO_HOLDINGS)
        same = holdings.get(grant.resource.id, ())
        if known is not None:
            same = tuple(g for g in same if g.id != grant.id)
        at = bisect.bisect(same, _order(grant), key=_order)
        # A new mapping for the licensee, set at once: readers take no lock.
        self._by_licensee[licensee] = {
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
    return _held_from(row.id, row.resource, row.scopes, row.terms, row.granted_at_ms,
                      row.revoked_at_ms, row.expires_at_ms)


def _held_from(grant_id: str, resource: str, scopes: str, terms: str, granted_at_ms: int,
               revoked_at_ms: int | None, expires_at_ms: int | None) -> HeldGrant:
    """A grant as decisions hold it, from its stored columns (``scopes`` and ``terms``
    are the stored JSON texts)."""
    return _held_with(grant_id, resource, frozenset(_decode_scopes(scopes)),
                      _decode_route(terms), granted_at_ms, revoked_at_ms, expires_at_ms)


def held_grant(grant: Grant) -> HeldGrant:
    """A grant just written, as decisions hold it."""
    return _held_with(grant.id, grant.resource, frozenset(grant.scopes), grant.route,
                      grant.granted_at_ms, grant.revoked_at_ms, grant.expires_at_ms)


def _held_with(grant_id: str, resource: str, scopes: frozenset[str], route: LicenseRoute,
               granted_at_ms: int, revoked_at_ms: int | None,
               expires_at_ms: int | None) -> HeldGrant:
    return HeldGrant(id=grant_id, resource=parse_resource(resource), scopes=scopes,
                     policy=route.policy, obligations=route.obligations,
                     territory=None if route.territory is None else frozenset(route.territory),
                     granted_at_ms=granted_at_ms, expires_at_ms=expires_at_ms,
                     revoked_at_ms=revoked_at_ms)


class _NotifiedRow(msgspec.Struct, frozen=True):
    """The columns a grant's notification carries beside its key."""

    resource: str
    scopes: str
    terms: str
    granted_at_ms: int


def _millis(text: str) -> int | None:
    return int(text) if text else None
