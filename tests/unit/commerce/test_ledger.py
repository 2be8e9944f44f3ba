"""The ledger balances: every movement, and so every payment, sums to zero, whatever the
price, fee, lineage split, transfers made or held, and refund (hypothesis)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from casset_rights.commerce import ledger
from casset_rights.commerce.errors import AmountBelowMinimum, UnknownCurrency
from casset_rights.commerce.models import PaymentRecord, Split
from casset_rights.commerce.money import check_charge, platform_fee
from casset_rights.db.engine import make_engine
from casset_rights.db.tables import metadata
from casset_rights.lineage.royalties import largest_remainder


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = make_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('ledger')) / 'l.db'}")
    metadata.create_all(engine)
    return engine


def payment(n: int, amount: int, fee_bps: int, weights: list[int]) -> PaymentRecord:
    fee = platform_fee(amount, fee_bps)
    total = sum(weights)
    amounts = largest_remainder(amount - fee, {f"a{i}": Fraction(w, total)
                                               for i, w in enumerate(weights)})
    splits = tuple(Split(f"a{i}", amounts[f"a{i}"]) for i in range(len(weights)))
    return PaymentRecord(
        id=f"pay_{n}", kind="license", intent_id=f"pi_{n}", quote_id=None, payer="client:x",
        artist_id="a0", resource="release:r", amount=amount, currency="usd",
        platform_fee=fee, destination="acct_a0", splits=splits, message=None,
        status="succeeded", holds_slot=False, hold_expires_at_ms=0, charge_id=f"ch_{n}",
        grant_id=None, dispute_status=None, created_at_ms=0, settled_at_ms=0,
        receipt_id=None)


counter = iter(range(10**9))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(50, 10_000_000), fee_bps=st.integers(0, 5000),
       weights=st.lists(st.integers(1, 1000), min_size=1, max_size=6),
       transferred=st.lists(st.booleans(), min_size=6, max_size=6),
       refunded=st.booleans())
def test_every_payment_balances_to_zero(db: Engine, amount: int, fee_bps: int,
                                        weights: list[int], transferred: list[bool],
                                        refunded: bool) -> None:
    p = payment(next(counter), amount, fee_bps, weights)
    with db.begin() as conn:
        ledger.write(conn, ledger.charge_entries(p, at_ms=1, charge_id=p.charge_id,
                                                 paid_now=[p.artist_id]))
        where = [(p.artist_id, p.splits[0].amount, "paid")]
        for i, split in enumerate(p.splits[1:], start=1):
            if transferred[i - 1] and split.amount:
                ledger.write(conn, ledger.transfer_entries(
                    p, artist_id=split.artist, amount=split.amount, transfer_id=f"tr_{i}",
                    at_ms=2))
            where.append((split.artist, split.amount,
                          "paid" if transferred[i - 1] else "held"))
        if refunded:
            ledger.write(conn, ledger.refund_entries(p, at_ms=3, reference=p.charge_id,
                                                     shares=where))
        assert ledger.payment_balance(conn, p.id) == 0
    assert sum(s.amount for s in p.splits) + p.platform_fee == p.amount


def test_an_unbalanced_movement_is_refused_and_nothing_written(db: Engine) -> None:
    p = payment(10**9, 1000, 1000, [1])
    bad = ledger.charge_entries(p, at_ms=1, charge_id="ch", paid_now=["a0"])[:-1]
    with db.begin() as conn:
        with pytest.raises(ValueError, match="do not balance"):
            ledger.write(conn, bad)
        assert ledger.payment_balance(conn, p.id) == 0


def test_amounts_and_currencies_are_checked() -> None:
    assert check_charge(50, "USD") == "usd"
    with pytest.raises(AmountBelowMinimum):
        check_charge(49, "usd")
    with pytest.raises(AmountBelowMinimum):
        check_charge(29, "gbp")
    with pytest.raises(UnknownCurrency):
        check_charge(5000, "xyz")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(times=st.lists(st.tuples(st.integers(0, 20 * 86_400_000), st.integers(-999, 999),
                                st.sampled_from(["transfer", "refund"])),
                      min_size=1, max_size=40),
       bounds=st.tuples(st.integers(0, 21 * 86_400_000), st.integers(0, 21 * 86_400_000)))
def test_a_statements_sums_match_its_entries(db: Engine, times: list[tuple[int, int, str]],
                                             bounds: tuple[int, int]) -> None:
    """Whole days come from the day sums, the edges from the entries: together they
    equal the entries summed one by one, for any range."""
    artist = f"artist-{next(counter)}"
    p = payment(next(counter), 1000, 0, [1])
    with db.begin() as conn:
        for n, (at, amount, kind) in enumerate(times):
            movement = f"m{n}"
            ledger.write(conn, [
                ledger.entry(p, movement, f"artist:{artist}:paid", amount, kind, at_ms=at,
                             reference=None, artist_id=artist),
                ledger.entry(p, movement, "platform:fees", -amount, kind, at_ms=at,
                             reference=None)])
    lo, hi = min(bounds), max(bounds) + 1
    with db.connect() as conn:
        found = ledger.statement(conn, artist, from_ms=lo, to_ms=hi, limit=10_000)
    before = sum(a for t, a, _ in times if t < lo)
    inside: dict[str, int] = {}
    for t, a, k in times:
        if lo <= t < hi:
            inside[k] = inside.get(k, 0) + a
    assert found.opening.get("usd", 0) == before
    assert found.totals.get("usd", {}) == inside
    assert found.closing.get("usd", 0) == before + sum(inside.values())
    assert sorted(x.amount for x in found.lines) == sorted(a for t, a, _ in times
                                                            if lo <= t < hi)
