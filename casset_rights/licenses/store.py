"""Licensing rows in the database: reading and writing quotes, requests, grants, counters.

Every state change is one conditional statement, so two processes racing for the same
quote, cap slot, request or revocation cannot both win: a quote is used by
``UPDATE … WHERE used_at_ms IS NULL``, a cap slot taken by ``UPDATE … WHERE granted <
cap`` on the route's counter row (PostgreSQL re-checks the condition after waiting for
the row lock, so exactly ``cap`` updates succeed), a request decided by ``UPDATE … WHERE
status = 'pending'``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from casset_rights.db.bulk import Guard, Rows, execute, insert_rows, insert_together, placeholder
from casset_rights.licenses.models import Grant, LicenseRequest, Quote
from casset_rights.licenses.tables import (
    license_grants,
    license_quotes,
    license_requests,
    license_route_counts,
)
from casset_rights.policy import LicenseRoute

_json = msgspec.json.encode


def _text(value: Any) -> str:
    return _json(value).decode()


def _route(text: str) -> LicenseRoute:
    return msgspec.json.decode(text, type=LicenseRoute)


def _insert_ignoring_conflict(conn: Connection, table: Any, values: dict[str, Any],
                              keys: Sequence[str]) -> None:
    dialect: Callable[..., Any] = (postgresql.insert if conn.dialect.name == "postgresql"
                                   else sqlite.insert)
    conn.execute(dialect(table).values(**values).on_conflict_do_nothing(index_elements=keys))


# -- quotes ---------------------------------------------------------------------------


# The flow's own statements (a quote stored; read, used and turned into a grant) go to the
# driver as they are (``db.bulk``): SQLAlchemy's execution of each cost more than the
# statement itself (docs/benchmarks.md).
_QUOTE_COLUMNS = ("id", "licensee", "principal", "artist_id", "resource", "scopes",
                  "route_name", "route_type", "policy_id", "policy_hash", "manifest_hash",
                  "terms", "context", "created_at_ms", "expires_at_ms", "token", "used_at_ms")


def insert_quote(conn: Connection, quote: Quote) -> None:
    insert_rows(conn, *quote_rows(quote))


def quote_rows(quote: Quote) -> Rows:
    return Rows(license_quotes, _QUOTE_COLUMNS, [(
        quote.id, quote.licensee, _text(quote.principal), quote.artist_id, quote.resource,
        _text(quote.scopes), quote.route.name, quote.route.type, quote.route.policy,
        quote.route.policy_hash, quote.manifest_hash, _text(quote.route),
        _text(quote.context), quote.created_at_ms, quote.expires_at_ms, quote.token,
        quote.used_at_ms)])


def read_quote(conn: Connection, quote_id: str) -> Quote | None:
    found = execute(conn, f"SELECT {', '.join(_QUOTE_COLUMNS)} FROM license_quotes "
                          f"WHERE id = {placeholder(conn)}", (quote_id,))
    if not found:
        return None
    (id_, licensee, principal, artist_id, resource, scopes, _name, _type, _policy, _hash,
     manifest_hash, terms, context, created_at_ms, expires_at_ms, token, used_at_ms) = found[0]
    return Quote(id=id_, licensee=licensee, principal=msgspec.json.decode(principal),
                 artist_id=artist_id, resource=resource,
                 scopes=tuple(msgspec.json.decode(scopes)), route=_route(terms),
                 manifest_hash=manifest_hash, context=msgspec.json.decode(context),
                 created_at_ms=created_at_ms, expires_at_ms=expires_at_ms, token=token,
                 used_at_ms=used_at_ms)


def use_quote(conn: Connection, quote_id: str, *, now_ms: int) -> bool:
    """Mark the quote used; False when it already was."""
    return insert_together(conn, [], guard=quote_use(quote_id, now_ms=now_ms))


def quote_use(quote_id: str, *, now_ms: int) -> Guard:
    """Marking the quote used, as the guard of the write that uses it
    (``db.bulk.insert_together``): it changes no row when the quote was used already."""
    return Guard("UPDATE license_quotes SET used_at_ms = {} WHERE id = {} "
                 "AND used_at_ms IS NULL RETURNING id", (now_ms, quote_id))


def unuse_quote(conn: Connection, quote_id: str) -> None:
    conn.execute(update(license_quotes).where(license_quotes.c.id == quote_id)
                 .values(used_at_ms=None))


# -- caps -----------------------------------------------------------------------------


def take_slot(conn: Connection, route: LicenseRoute) -> bool:
    """Count one more grant of ``route``; False (nothing counted) when its cap is reached.
    Routes without a cap are not counted."""
    if route.cap is None:
        return True
    _insert_ignoring_conflict(conn, license_route_counts,
                              {"policy_id": route.policy, "route_name": route.name,
                               "granted": 0}, ["policy_id", "route_name"])
    c = license_route_counts.c
    result = conn.execute(update(license_route_counts)
                          .where(c.policy_id == route.policy, c.route_name == route.name,
                                 c.granted < route.cap)
                          .values(granted=c.granted + 1))
    return result.rowcount == 1


def give_back_slot(conn: Connection, route: LicenseRoute) -> None:
    if route.cap is None:
        return
    c = license_route_counts.c
    conn.execute(update(license_route_counts)
                 .where(c.policy_id == route.policy, c.route_name == route.name, c.granted > 0)
                 .values(granted=c.granted - 1))


def granted_count(conn: Connection, route: LicenseRoute) -> int:
    c = license_route_counts.c
    value = conn.execute(select(c.granted).where(c.policy_id == route.policy,
                                                 c.route_name == route.name)).scalar()
    return int(value or 0)


# -- grants ---------------------------------------------------------------------------


_GRANT_COLUMNS = ("id", "quote_id", "request_id", "licensee", "principal", "artist_id",
                  "resource", "scopes", "route_name", "route_type", "policy_id",
                  "policy_hash", "manifest_hash", "terms", "payment_id", "status",
                  "granted_at_ms", "expires_at_ms", "token", "receipt_id")


def insert_grant(conn: Connection, grant: Grant) -> None:
    insert_rows(conn, *grant_rows(grant))


def grant_rows(grant: Grant) -> Rows:
    return Rows(license_grants, _GRANT_COLUMNS, [(
        grant.id, grant.quote_id, grant.request_id, grant.licensee, _text(grant.principal),
        grant.artist_id, grant.resource, _text(grant.scopes), grant.route.name,
        grant.route.type, grant.route.policy, grant.route.policy_hash, grant.manifest_hash,
        _text(grant.route), grant.payment_id, grant.status, grant.granted_at_ms,
        grant.expires_at_ms, grant.token, grant.receipt_id)])


def _grant(row: Any) -> Grant:
    return Grant(id=row.id, quote_id=row.quote_id, request_id=row.request_id,
                 licensee=row.licensee, principal=msgspec.json.decode(row.principal),
                 artist_id=row.artist_id, resource=row.resource,
                 scopes=tuple(msgspec.json.decode(row.scopes)), route=_route(row.terms),
                 manifest_hash=row.manifest_hash, payment_id=row.payment_id,
                 status=row.status, granted_at_ms=row.granted_at_ms,
                 expires_at_ms=row.expires_at_ms, revoked_at_ms=row.revoked_at_ms,
                 revocation_reason=row.revocation_reason, token=row.token,
                 receipt_id=row.receipt_id, revocation_receipt_id=row.revocation_receipt_id)


def read_grant(conn: Connection, grant_id: str) -> Grant | None:
    row = conn.execute(select(license_grants).where(license_grants.c.id == grant_id)).first()
    return None if row is None else _grant(row)


def held_grants(conn: Connection, licensee: str, resources: Sequence[str], *,
                at_ms: int) -> list[Grant]:
    """The licensee's grants on any of ``resources`` in force at ``at_ms`` (granted by
    then, not revoked by then, not expired by then)."""
    g = license_grants.c
    rows = conn.execute(
        select(license_grants)
        .where(g.licensee == licensee, g.resource.in_(list(resources)),
               g.granted_at_ms <= at_ms,
               or_(g.revoked_at_ms.is_(None), g.revoked_at_ms > at_ms),
               or_(g.expires_at_ms.is_(None), g.expires_at_ms > at_ms))
        .order_by(g.granted_at_ms, g.id))
    return [_grant(row) for row in rows]


def list_grants(conn: Connection, *, licensee: str | None, artist_id: str | None,
                status: str | None, limit: int) -> list[Grant]:
    """Grants the licensee holds or the artist gave (either matching), newest first."""
    g = license_grants.c
    who = [c for c in (g.licensee == licensee if licensee else None,
                       g.artist_id == artist_id if artist_id else None) if c is not None]
    if not who:
        return []
    query = select(license_grants).where(or_(*who))
    if status is not None:
        query = query.where(g.status == status)
    rows = conn.execute(query.order_by(g.granted_at_ms.desc(), g.id).limit(limit))
    return [_grant(row) for row in rows]


def revoke_grant(conn: Connection, grant_id: str, *, now_ms: int, reason: str,
                 receipt_id: str) -> bool:
    g = license_grants.c
    result = conn.execute(update(license_grants)
                          .where(g.id == grant_id, g.status == "active")
                          .values(status="revoked", revoked_at_ms=now_ms,
                                  revocation_reason=reason, revocation_receipt_id=receipt_id))
    return result.rowcount == 1


# -- requests -------------------------------------------------------------------------


def insert_request(conn: Connection, request: LicenseRequest) -> None:
    conn.execute(insert(license_requests), dict(
        id=request.id, quote_id=request.quote_id, licensee=request.licensee,
        principal=_text(request.principal), artist_id=request.artist_id,
        resource=request.resource, scopes=_text(request.scopes),
        route_name=request.route.name, policy_id=request.route.policy,
        policy_hash=request.route.policy_hash, terms=_text(request.route),
        message=request.message, status=request.status,
        created_at_ms=request.created_at_ms, receipt_id=request.receipt_id))


def _request(row: Any) -> LicenseRequest:
    return LicenseRequest(
        id=row.id, quote_id=row.quote_id, licensee=row.licensee,
        principal=msgspec.json.decode(row.principal), artist_id=row.artist_id,
        resource=row.resource, scopes=tuple(msgspec.json.decode(row.scopes)),
        route=_route(row.terms), message=row.message, status=row.status,
        created_at_ms=row.created_at_ms, decided_at_ms=row.decided_at_ms,
        decision_message=row.decision_message, grant_id=row.grant_id,
        receipt_id=row.receipt_id, decision_receipt_id=row.decision_receipt_id)


def read_request(conn: Connection, request_id: str) -> LicenseRequest | None:
    row = conn.execute(select(license_requests)
                       .where(license_requests.c.id == request_id)).first()
    return None if row is None else _request(row)


def list_requests(conn: Connection, *, licensee: str | None, artist_id: str | None,
                  status: str | None, limit: int) -> list[LicenseRequest]:
    r = license_requests.c
    who = [c for c in (r.licensee == licensee if licensee else None,
                       r.artist_id == artist_id if artist_id else None) if c is not None]
    if not who:
        return []
    query = select(license_requests).where(or_(*who))
    if status is not None:
        query = query.where(r.status == status)
    rows = conn.execute(query.order_by(r.created_at_ms.desc(), r.id).limit(limit))
    return [_request(row) for row in rows]


def decide_request(conn: Connection, request_id: str, *, status: str, now_ms: int,
                   message: str | None, grant_id: str | None, receipt_id: str) -> bool:
    r = license_requests.c
    result = conn.execute(update(license_requests)
                          .where(and_(r.id == request_id, r.status == "pending"))
                          .values(status=status, decided_at_ms=now_ms,
                                  decision_message=message, grant_id=grant_id,
                                  decision_receipt_id=receipt_id))
    return result.rowcount == 1
