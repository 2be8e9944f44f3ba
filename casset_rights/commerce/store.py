"""Commerce rows: each state change one conditional statement (``… WHERE status =
'open'``), so concurrent deliveries and racing events cannot both win."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from casset_rights.commerce.models import ConnectAccount, PaymentRecord, Split
from casset_rights.commerce.tables import connect_accounts, payments, stripe_events, transfers
from casset_rights.licenses.tables import license_grants

_splits = msgspec.json.Decoder(tuple[Split, ...])


def insert_payment(conn: Connection, p: PaymentRecord) -> None:
    conn.execute(insert(payments), dict(
        id=p.id, kind=p.kind, intent_id=p.intent_id, quote_id=p.quote_id, payer=p.payer,
        artist_id=p.artist_id, resource=p.resource, amount=p.amount, currency=p.currency,
        platform_fee=p.platform_fee, destination=p.destination,
        splits=msgspec.json.encode(p.splits).decode(), message=p.message, status=p.status,
        holds_slot=p.holds_slot, hold_expires_at_ms=p.hold_expires_at_ms,
        created_at_ms=p.created_at_ms, receipt_id=p.receipt_id))


def _payment(row: Any) -> PaymentRecord:
    return PaymentRecord(
        id=row.id, kind=row.kind, intent_id=row.intent_id, quote_id=row.quote_id,
        payer=row.payer, artist_id=row.artist_id, resource=row.resource, amount=row.amount,
        currency=row.currency, platform_fee=row.platform_fee, destination=row.destination,
        splits=_splits.decode(row.splits), message=row.message, status=row.status,
        holds_slot=bool(row.holds_slot), hold_expires_at_ms=row.hold_expires_at_ms,
        charge_id=row.charge_id, grant_id=row.grant_id, dispute_status=row.dispute_status,
        created_at_ms=row.created_at_ms, settled_at_ms=row.settled_at_ms,
        receipt_id=row.receipt_id)


def read_payment(conn: Connection, *, payment_id: str | None = None,
                 intent_id: str | None = None, quote_id: str | None = None,
                 charge_id: str | None = None) -> PaymentRecord | None:
    c = payments.c
    if payment_id is not None:
        where = c.id == payment_id
    elif intent_id is not None:
        where = c.intent_id == intent_id
    elif quote_id is not None:
        where = c.quote_id == quote_id
    else:
        where = c.charge_id == charge_id
    row = conn.execute(select(payments).where(where)).first()
    return None if row is None else _payment(row)


def set_intent(conn: Connection, payment_id: str, intent_id: str) -> None:
    conn.execute(update(payments).where(payments.c.id == payment_id)
                 .values(intent_id=intent_id))


def move(conn: Connection, payment_id: str, *, from_status: str, to_status: str,
         **values: Any) -> bool:
    """Move the payment from ``from_status`` to ``to_status``; False when it was not in
    ``from_status`` (another event or process moved it first)."""
    result = conn.execute(update(payments)
                          .where(payments.c.id == payment_id, payments.c.status == from_status)
                          .values(status=to_status, **values))
    return result.rowcount == 1


def set_receipt(conn: Connection, payment_id: str, receipt_id: str) -> None:
    conn.execute(update(payments).where(payments.c.id == payment_id)
                 .values(receipt_id=receipt_id))


def set_dispute(conn: Connection, payment_id: str, *, status: str, receipt_id: str) -> None:
    conn.execute(update(payments).where(payments.c.id == payment_id)
                 .values(dispute_status=status, receipt_id=receipt_id))


def expired_holds(conn: Connection, *, now_ms: int, limit: int = 100) -> list[PaymentRecord]:
    c = payments.c
    rows = conn.execute(select(payments).where(c.status == "open",
                                               c.hold_expires_at_ms <= now_ms)
                        .order_by(c.hold_expires_at_ms).limit(limit))
    return [_payment(r) for r in rows]


def delete_unstarted(conn: Connection, payment_id: str) -> None:
    """Forget a payment whose intent Stripe never made (its reservation is given back)."""
    conn.execute(payments.delete().where(payments.c.id == payment_id,
                                         payments.c.intent_id.is_(None)))


# -- events ---------------------------------------------------------------------------


def record_event(conn: Connection, *, event_id: str, type_: str, object_id: str | None,
                 created: int, now_ms: int, outcome: str, payload: str) -> bool:
    """Store the event by its id; False when it was stored before (a duplicate)."""
    dialect: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    result = conn.execute(dialect(stripe_events).values(
        id=event_id, type=type_, object_id=object_id, created=created,
        received_at_ms=now_ms, outcome=outcome[:200], payload=payload,
    ).on_conflict_do_nothing(index_elements=["id"]))
    return result.rowcount == 1


def event_outcome(conn: Connection, event_id: str) -> str | None:
    return conn.execute(select(stripe_events.c.outcome)
                        .where(stripe_events.c.id == event_id)).scalar()


# -- Connect accounts -------------------------------------------------------------------


def _account(row: Any) -> ConnectAccount:
    return ConnectAccount(artist_id=row.artist_id, account_id=row.account_id,
                          charges_enabled=bool(row.charges_enabled),
                          payouts_enabled=bool(row.payouts_enabled),
                          details_submitted=bool(row.details_submitted))


def read_account(conn: Connection, *, artist_id: str | None = None,
                 account_id: str | None = None) -> ConnectAccount | None:
    c = connect_accounts.c
    where = c.artist_id == artist_id if artist_id is not None else c.account_id == account_id
    row = conn.execute(select(connect_accounts).where(where)).first()
    return None if row is None else _account(row)


def insert_account(conn: Connection, account: ConnectAccount, *, now_ms: int) -> None:
    dialect: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(dialect(connect_accounts).values(
        artist_id=account.artist_id, account_id=account.account_id,
        charges_enabled=account.charges_enabled, payouts_enabled=account.payouts_enabled,
        details_submitted=account.details_submitted, created_at_ms=now_ms,
        updated_at_ms=now_ms).on_conflict_do_nothing(index_elements=["artist_id"]))


def update_account(conn: Connection, account_id: str, *, charges_enabled: bool,
                   payouts_enabled: bool, details_submitted: bool, now_ms: int) -> bool:
    result = conn.execute(update(connect_accounts)
                          .where(connect_accounts.c.account_id == account_id)
                          .values(charges_enabled=charges_enabled,
                                  payouts_enabled=payouts_enabled,
                                  details_submitted=details_submitted, updated_at_ms=now_ms))
    return result.rowcount == 1


# -- transfers --------------------------------------------------------------------------


def insert_transfer(conn: Connection, **values: Any) -> None:
    conn.execute(insert(transfers), values)


def transfers_of(conn: Connection, *, payment_id: str | None = None,
                 artist_id: str | None = None, status: str | None = None) -> list[Any]:
    c = transfers.c
    query = select(transfers)
    if payment_id is not None:
        query = query.where(c.payment_id == payment_id)
    if artist_id is not None:
        query = query.where(c.artist_id == artist_id)
    if status is not None:
        query = query.where(c.status == status)
    return list(conn.execute(query.order_by(c.created_at_ms, c.id)))


def move_transfer(conn: Connection, transfer_id: str, *, from_status: str, to_status: str,
                  **values: Any) -> bool:
    result = conn.execute(update(transfers)
                          .where(transfers.c.id == transfer_id,
                                 transfers.c.status == from_status)
                          .values(status=to_status, **values))
    return result.rowcount == 1


# -- the license a payment bought --------------------------------------------------------


def change_grant(conn: Connection, grant_id: str, *, from_statuses: tuple[str, ...],
                 to_status: str, at_ms: int | None, reason: str | None,
                 receipt_id: str | None) -> bool:
    """Move a license between ``active``, ``suspended`` and ``revoked`` (a dispute or a
    refund). ``at_ms`` is when it stops being in force (None: in force again); the
    revocation is time-aware, as the artist's own is. False when it was in none of
    ``from_statuses``."""
    g = license_grants.c
    result = conn.execute(update(license_grants)
                          .where(g.id == grant_id, g.status.in_(from_statuses))
                          .values(status=to_status, revoked_at_ms=at_ms,
                                  revocation_reason=reason, revocation_receipt_id=receipt_id))
    return result.rowcount == 1
