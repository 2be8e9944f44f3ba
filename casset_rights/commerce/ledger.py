"""A double-entry ledger of every charge, fee, transfer, refund and reversal.

Each money movement (a charge, one transfer, a refund) is a set of entries that sum to
zero, written in the same transaction as the state change it records; so every payment's
entries sum to zero too. Signed amounts: a positive amount is credited to the account.

Accounts:

* ``payer:<licensee>``: what the payer paid (negative) and got back (positive);
* ``platform:fees``: the platform's fee;
* ``artist:<id>:paid``: money on the artist's Connect account (the licensor's share
  arrives there with the destination charge; upstream shares by transfer);
* ``artist:<id>:held``: an artist's share not transferred yet (an upstream artist not
  onboarded, or a transfer not made yet).

An artist's statement reads only their own accounts (``artist_id`` is set on them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select

from casset_rights.commerce.models import LedgerLine, PaymentRecord, Statement
from casset_rights.commerce.tables import ledger_entries

MAX_LINES = 10_000


class Entry(dict[str, Any]):
    """One ledger row (the ``ledger_entries`` columns but ``id``)."""


def entry(payment: PaymentRecord, movement: str, account: str, amount: int, kind: str, *,
          at_ms: int, reference: str | None, artist_id: str | None = None) -> Entry:
    return Entry(payment_id=payment.id, movement=movement, account=account,
                 artist_id=artist_id, amount=amount, currency=payment.currency, kind=kind,
                 at_ms=at_ms, reference=reference)


def charge_entries(payment: PaymentRecord, *, at_ms: int, charge_id: str | None,
                   paid_now: Iterable[str]) -> list[Entry]:
    """The charge: the payer pays ``amount``; the platform keeps its fee; the licensor's
    share lands on their account with the destination charge; every other artist's share
    is held until its transfer (``paid_now`` names artists paid with the charge)."""
    movement = f"charge:{payment.id}"
    direct = set(paid_now)
    out = [entry(payment, movement, f"payer:{payment.payer}", -payment.amount, "payment",
                 at_ms=at_ms, reference=charge_id),
           entry(payment, movement, "platform:fees", payment.platform_fee, "platform_fee",
                 at_ms=at_ms, reference=charge_id)]
    for split in payment.splits:
        if split.amount == 0:
            continue
        held = split.artist not in direct
        out.append(entry(payment, movement,
                         f"artist:{split.artist}:{'held' if held else 'paid'}", split.amount,
                         "share_held" if held else f"{payment.kind}_share", at_ms=at_ms,
                         reference=charge_id, artist_id=split.artist))
    return out


def transfer_entries(payment: PaymentRecord, *, artist_id: str, amount: int,
                     transfer_id: str, at_ms: int) -> list[Entry]:
    """A held share transferred to the artist's Connect account."""
    movement = f"transfer:{transfer_id}"
    return [entry(payment, movement, f"artist:{artist_id}:held", -amount, "transfer",
                  at_ms=at_ms, reference=transfer_id, artist_id=artist_id),
            entry(payment, movement, f"artist:{artist_id}:paid", amount, "transfer",
                  at_ms=at_ms, reference=transfer_id, artist_id=artist_id)]


def refund_entries(payment: PaymentRecord, *, at_ms: int, reference: str | None,
                   shares: Sequence[tuple[str, int, str]]) -> list[Entry]:
    """The refund undoes the charge: the payer is paid back, the fee returned, and each
    artist's share taken back from where it is now (``shares``: artist, amount, and
    ``paid`` or ``held``; a paid upstream share is taken back by reversing its
    transfer)."""
    movement = f"refund:{payment.id}"
    out = [entry(payment, movement, f"payer:{payment.payer}", payment.amount, "refund",
                 at_ms=at_ms, reference=reference),
           entry(payment, movement, "platform:fees", -payment.platform_fee,
                 "platform_fee_refund", at_ms=at_ms, reference=reference)]
    for artist, amount, where in shares:
        if amount:
            out.append(entry(payment, movement, f"artist:{artist}:{where}", -amount,
                             "refund" if where == "held" or artist == payment.artist_id
                             else "reversal", at_ms=at_ms, reference=reference,
                             artist_id=artist))
    return out


def write(conn: Connection, entries: Sequence[Entry]) -> None:
    """Insert the entries. Raises ValueError when a movement's entries do not sum to
    zero (nothing is written then: the caller's transaction rolls back)."""
    if not entries:
        return
    sums: dict[str, int] = defaultdict(int)
    for e in entries:
        sums[e["movement"]] += e["amount"]
    unbalanced = {m: s for m, s in sums.items() if s != 0}
    if unbalanced:
        raise ValueError(f"ledger movements do not balance: {unbalanced}")
    conn.execute(insert(ledger_entries), list(entries))


def payment_balance(conn: Connection, payment_id: str) -> int:
    """The sum of every entry of the payment (zero, always)."""
    c = ledger_entries.c
    return int(conn.execute(select(func.coalesce(func.sum(c.amount), 0))
                            .where(c.payment_id == payment_id)).scalar_one())


def statement(conn: Connection, artist_id: str, *, from_ms: int, to_ms: int,
              limit: int = 1000) -> Statement:
    """The artist's entries with ``from_ms <= at_ms < to_ms``: opening and closing
    balances and totals by kind (per currency), and the first ``limit`` lines in time
    order. Three index range reads on ``(artist_id, at_ms)``."""
    c = ledger_entries.c
    mine = c.artist_id == artist_id
    opening = _by_currency(conn.execute(
        select(c.currency, func.sum(c.amount)).where(mine, c.at_ms < from_ms)
        .group_by(c.currency)))
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    for currency, kind, total in conn.execute(
            select(c.currency, c.kind, func.sum(c.amount))
            .where(mine, c.at_ms >= from_ms, c.at_ms < to_ms)
            .group_by(c.currency, c.kind)):
        totals[currency][kind] = int(total)
    limit = max(1, min(limit, MAX_LINES))
    rows = conn.execute(select(c.at_ms, c.payment_id, c.movement, c.account, c.kind,
                               c.amount, c.currency, c.reference)
                        .where(mine, c.at_ms >= from_ms, c.at_ms < to_ms)
                        .order_by(c.at_ms, c.id).limit(limit + 1)).all()
    lines = tuple(LedgerLine(at_ms=r[0], payment_id=r[1], movement=r[2], account=r[3],
                             kind=r[4], amount=r[5], currency=r[6], reference=r[7])
                  for r in rows[:limit])
    closing = dict(opening)
    for currency, kinds in totals.items():
        closing[currency] = closing.get(currency, 0) + sum(kinds.values())
    return Statement(artist_id=artist_id, from_ms=from_ms, to_ms=to_ms, opening=opening,
                     closing=closing, totals=dict(totals), lines=lines,
                     truncated=len(rows) > limit)


def _by_currency(rows: Iterable[Any]) -> dict[str, int]:
    return {currency: int(total) for currency, total in rows}
