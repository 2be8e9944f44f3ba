"""Artists paid through Stripe Connect: onboarding, and the upstream artists' shares.

* ``onboard`` gives an artist a Connect account (made once: an idempotency key per
  artist) and an account link to finish onboarding at Stripe. Charges and payouts are
  enabled when Stripe says so (``account_updated``, from the ``account.updated``
  webhook; the account is read back from Stripe, so events out of order are safe).
* A payment's licensor is paid by the destination charge itself. Every other artist's
  share up the lineage graph is a transfer in the payment's transfer group
  (``transfer_group`` = the payment id). ``hold_shares`` writes them as ``held`` in the
  charge's transaction; ``pay_shares`` then transfers those whose artist can be paid
  (idempotency key per share); the rest wait until ``account_updated`` enables their
  artist's payouts (``pay_held``).
* On a refund, held shares are canceled and paid ones reversed (``reverse``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine

from casset_rights.commerce import ledger
from casset_rights.commerce import store as money
from casset_rights.commerce.errors import PaymentProviderError
from casset_rights.commerce.gateway import PaymentGateway
from casset_rights.commerce.models import ConnectAccount, PaymentRecord, Statement
from casset_rights.commerce.receipts import MoneyReceipts
from casset_rights.db.engine import writing


class Payouts:
    def __init__(self, *, engine: Engine, gateway: PaymentGateway, receipts: MoneyReceipts,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._gateway = gateway
        self._receipts = receipts
        self._clock = clock

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- onboarding ---------------------------------------------------------------------

    def account(self, artist_id: str) -> ConnectAccount | None:
        with self._engine.connect() as conn:
            return money.read_account(conn, artist_id=artist_id)

    def onboard(self, artist_id: str, *, principal: dict[str, Any], refresh_url: str,
                return_url: str) -> ConnectAccount:
        """The artist's Connect account (made on the first call) with a fresh onboarding
        link. Raises PaymentProviderError."""
        account = self.account(artist_id)
        if account is None:
            made = self._gateway.create_account(artist_id=artist_id,
                                                idempotency_key=f"casset-artist-{artist_id}")
            account = _account_of(artist_id, made)
            with writing(self._engine) as conn:
                money.insert_account(conn, account, now_ms=self.now_ms())
                self._receipts.record(conn, "connect-account", principal=principal,
                                      resource=None, status="created", artist=artist_id,
                                      account=account.account_id)
            account = self.account(artist_id) or account
        url = self._gateway.create_account_link(account_id=account.account_id,
                                                refresh_url=refresh_url, return_url=return_url)
        return ConnectAccount(**{**_fields(account), "onboarding_url": url})

    def account_updated(self, account_id: str) -> str:
        """Read the account from Stripe and record what it may do now; pays the artist's
        held shares once payouts are enabled."""
        with self._engine.connect() as conn:
            known = money.read_account(conn, account_id=account_id)
        if known is None:
            return f"no artist has account {account_id}: recorded, no effect"
        now = _account_of(known.artist_id, self._gateway.retrieve_account(account_id))
        if _fields(now) != _fields(known):
            with writing(self._engine) as conn:
                money.update_account(conn, account_id, charges_enabled=now.charges_enabled,
                                     payouts_enabled=now.payouts_enabled,
                                     details_submitted=now.details_submitted,
                                     now_ms=self.now_ms())
                self._receipts.record(conn, "connect-account", principal=None,
                                      resource=None, status="updated",
                                      artist=known.artist_id, account=account_id,
                                      charges_enabled=now.charges_enabled,
                                      payouts_enabled=now.payouts_enabled)
        paid = self.pay_held(known.artist_id) if now.payouts_enabled else 0
        return (f"account {account_id} of {known.artist_id}: charges "
                f"{'on' if now.charges_enabled else 'off'}, payouts "
                f"{'on' if now.payouts_enabled else 'off'}; {paid} held shares paid")

    def statement(self, artist_id: str, *, from_ms: int, to_ms: int,
                  limit: int) -> Statement:
        """The artist's ledger between two times (``ledger.statement``)."""
        with self._engine.connect() as conn:
            return ledger.statement(conn, artist_id, from_ms=from_ms, to_ms=to_ms,
                                    limit=limit)

    # -- upstream shares ----------------------------------------------------------------

    def hold_shares(self, conn: Connection, payment: PaymentRecord, *, now_ms: int) -> None:
        """Write every upstream share of a succeeded payment as a held transfer (in the
        charge's transaction)."""
        for split in payment.splits[1:]:
            if split.amount:
                money.insert_transfer(conn, id="xfr_" + uuid.uuid4().hex,
                                      payment_id=payment.id, artist_id=split.artist,
                                      amount=split.amount, currency=payment.currency,
                                      status="held", transfer_group=payment.id,
                                      created_at_ms=now_ms)

    def pay_shares(self, payment_id: str) -> int:
        """Transfer the payment's held shares whose artists can be paid now."""
        with self._engine.connect() as conn:
            rows = money.transfers_of(conn, payment_id=payment_id, status="held")
        return self._pay(rows)

    def pay_held(self, artist_id: str) -> int:
        """Transfer every share held for the artist (their payouts were just enabled)."""
        with self._engine.connect() as conn:
            rows = money.transfers_of(conn, artist_id=artist_id, status="held")
        return self._pay(rows)

    def _pay(self, rows: list[Any]) -> int:
        paid = 0
        for row in rows:
            with self._engine.connect() as conn:
                account = money.read_account(conn, artist_id=row.artist_id)
                payment = money.read_payment(conn, payment_id=row.payment_id)
            if account is None or not account.payouts_enabled or payment is None \
                    or payment.status != "succeeded":
                continue
            try:
                transfer_id = self._gateway.create_transfer(
                    amount=row.amount, currency=row.currency, destination=account.account_id,
                    transfer_group=row.transfer_group, source_charge=payment.charge_id,
                    idempotency_key=f"casset-{row.id}")
            except PaymentProviderError:
                continue  # stays held; the next account.updated or payment tries again
            now = self.now_ms()
            with writing(self._engine) as conn:
                if not money.move_transfer(conn, row.id, from_status="held", to_status="paid",
                                           stripe_transfer_id=transfer_id, paid_at_ms=now):
                    continue
                ledger.write(conn, ledger.transfer_entries(
                    payment, artist_id=row.artist_id, amount=row.amount,
                    transfer_id=transfer_id, at_ms=now))
                self._receipts.record(conn, "payment-transfer", principal=None,
                                      resource=payment.resource, status="paid",
                                      payment=payment.id, artist=row.artist_id,
                                      amount=row.amount, currency=row.currency,
                                      transfer=transfer_id, transfer_group=row.transfer_group)
            paid += 1
        return paid

    def unwind(self, conn: Connection, payment: PaymentRecord) -> list[tuple[str, int, str]]:
        """In a refund's transaction: cancel the payment's held shares and mark the paid
        ones for reversal. Returns every artist's share and where it was (``paid`` or
        ``held``), the licensor's first, for the ledger."""
        shares: list[tuple[str, int, str]] = [(payment.artist_id, payment.splits[0].amount,
                                               "paid")]
        for row in money.transfers_of(conn, payment_id=payment.id):
            if row.status == "held" and money.move_transfer(conn, row.id, from_status="held",
                                                            to_status="canceled"):
                shares.append((row.artist_id, row.amount, "held"))
            elif row.status == "paid" and money.move_transfer(
                    conn, row.id, from_status="paid", to_status="reversing"):
                shares.append((row.artist_id, row.amount, "paid"))
        return shares

    def reverse(self, payment_id: str) -> int:
        """Reverse the payment's transfers marked for it (idempotency key per share)."""
        with self._engine.connect() as conn:
            rows = money.transfers_of(conn, payment_id=payment_id, status="reversing")
        done = 0
        for row in rows:
            reversal = self._gateway.reverse_transfer(row.stripe_transfer_id,
                                                      idempotency_key=f"casset-rev-{row.id}")
            with writing(self._engine) as conn:
                if money.move_transfer(conn, row.id, from_status="reversing",
                                       to_status="reversed"):
                    self._receipts.record(conn, "payment-reversal", principal=None,
                                          resource=None, status="reversed",
                                          payment=payment_id, artist=row.artist_id,
                                          amount=row.amount, transfer=row.stripe_transfer_id,
                                          reversal=reversal)
                    done += 1
        return done


def _account_of(artist_id: str, obj: dict[str, Any]) -> ConnectAccount:
    return ConnectAccount(artist_id=artist_id, account_id=str(obj["id"]),
                          charges_enabled=bool(obj.get("charges_enabled")),
                          payouts_enabled=bool(obj.get("payouts_enabled")),
                          details_submitted=bool(obj.get("details_submitted")))


def _fields(account: ConnectAccount) -> dict[str, Any]:
    return {"artist_id": account.artist_id, "account_id": account.account_id,
            "charges_enabled": account.charges_enabled,
            "payouts_enabled": account.payouts_enabled,
            "details_submitted": account.details_submitted}
