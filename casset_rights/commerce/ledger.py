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
from sqlalchemy.dialects import postgresql, sqlite

from casset_rights.commerce.models import LedgerLine, PaymentRecord, Statement
from casset_rights.commerce.tables import ledger_days, ledger_entries

MAX_LINES = 10_000
DAY_MS = 86_400_000


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
    _add_to_days(conn, entries)


def _add_to_days(conn: Connection, entries: Sequence[Entry]) -> None:
    """Add the artists' entries to their days' sums (``ledger_days``), in this
    transaction."""
    sums: dict[tuple[str, int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for e in entries:
        if e["artist_id"] is not None:
            key = (e["artist_id"], e["at_ms"] // DAY_MS, e["currency"], e["kind"])
            sums[key][0] += e["amount"]
            sums[key][1] += 1
    if not sums:
        return
    dialect: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = [{"artist_id": artist, "day": day, "currency": currency, "kind": kind,
               "total": total, "entries": count}
              for (artist, day, currency, kind), (total, count) in sorted(sums.items())]
    for i in range(0, len(values), 4000):  # one statement per 4,000 days (bind limits)
        statement = dialect(ledger_days).values(values[i:i + 4000])
        conn.execute(statement.on_conflict_do_update(
            index_elements=["artist_id", "day", "currency", "kind"],
            set_={"total": ledger_days.c.total + statement.excluded.total,
                  "entries": ledger_days.c.entries + statement.excluded.entries}))


def payment_balance(conn: Connection, payment_id: str) -> int:
    """The sum of every entry of the payment (zero, always)."""
    c = ledger_entries.c
    return int(conn.execute(select(func.coalesce(func.sum(c.amount), 0))
                            .where(c.payment_id == payment_id)).scalar_one())


def statement(conn: Connection, artist_id: str, *, from_ms: int, to_ms: int,
              limit: int = 1000) -> Statement:
    """The artist's entries with ``from_ms <= at_ms < to_ms``: opening and closing
    balances and totals by kind (per currency), and the first ``limit`` lines in time
    order. The sums read whole days from ``ledger_days`` and entries only for the
    partial days at the edges; the lines are one index range read."""
    c = ledger_entries.c
    mine = c.artist_id == artist_id
    opening = _sums(conn, artist_id, None, from_ms)
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    for (currency, kind), total in _sums(conn, artist_id, from_ms, to_ms,
                                         by_kind=True).items():
        totals[currency][kind] = total
    limit = max(1, min(limit, MAX_LINES))
    rows = conn.execute(select(c.at_ms, c.payment_id, c.movement, c.account, c.kind,
                               c.amount, c.currency, c.reference)
                        .where(mine, c.at_ms >= from_ms, c.at_ms < to_ms)
                        .order_by(c.at_ms, c.id).limit(limit + 1)).all()
    lines = tuple(LedgerLine(at_ms=r[0], payment_id=r[1], movement=r[2], account=r[3],
                             kind=r[4], amount=r[5], currency=r[6], reference=r[7])
                  for r in rows[:limit])
    closing = {currency: total for (currency, _), total in opening.items()}
    opening_by_currency = dict(closing)
    for currency, kinds in totals.items():
        closing[currency] = closing.get(currency, 0) + sum(kinds.values())
    return Statement(artist_id=artist_id, from_ms=from_ms, to_ms=to_ms,
                     opening=opening_by_currency,
                     closing=closing, totals=dict(totals), lines=lines,
                     truncated=len(rows) > limit)


def _sums(conn: Connection, artist_id: str, from_ms: int | None, to_ms: int, *,
          by_kind: bool = False) -> dict[tuple[str, str], int]:
    """The artist's entries with ``from_ms <= at_ms < to_ms`` (no lower bound for None)
    summed by currency (and kind): whole days from ``ledger_days``, the partial days at
    either edge from the entries themselves."""
    first_day = 0 if from_ms is None else -(-from_ms // DAY_MS)  # the first whole day
    end_day = to_ms // DAY_MS  # days before this one end by to_ms
    edges: list[tuple[int, int]] = []
    if first_day >= end_day:  # no whole day inside: the entries alone
        edges.append((from_ms or 0, to_ms))
        days: list[Any] = []
    else:
        if from_ms is not None:
            edges.append((from_ms, first_day * DAY_MS))
        edges.append((end_day * DAY_MS, to_ms))
        d = ledger_days.c
        days = list(conn.execute(
            select(d.currency, d.kind, func.sum(d.total))
            .where(d.artist_id == artist_id, d.day >= first_day, d.day < end_day)
            .group_by(d.currency, d.kind)))
    c = ledger_entries.c
    rows = list(days)
    for lo, hi in edges:
        if lo < hi:
            rows.extend(conn.execute(
                select(c.currency, c.kind, func.sum(c.amount))
                .where(c.artist_id == artist_id, c.at_ms >= lo, c.at_ms < hi)
                .group_by(c.currency, c.kind)))
    out: dict[tuple[str, str], int] = defaultdict(int)
    for currency, kind, total in rows:
        out[(currency, kind if by_kind else "")] += int(total)
    return {key: total for key, total in out.items() if total or by_kind}
