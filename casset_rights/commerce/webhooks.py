"""Stripe's webhooks: verified, stored by event id, acted on exactly once.

``receive`` verifies the ``Stripe-Signature`` with the SDK (a forged or stale signature
is refused before anything is stored), stores the event by its id, and hands it to its
handler. A second delivery of an event already handled changes nothing and is answered
as a duplicate. Handlers never trust the event's copy of the object: they read the
object's present state from Stripe and move our rows by conditional updates, so events
arriving out of order (a failure after the success, a dispute closed before its
opening reached us) leave the state Stripe has now, and a delivery racing its duplicate
acts once. An event about a payment we do not know is recorded and answered 200.

* ``payment_intent.succeeded`` / ``payment_failed`` / ``canceled``: settle the payment.
* ``charge.refunded``: the license ends from that moment, held shares are canceled,
  paid ones reversed, the ledger records the refund; one receipt.
* ``charge.dispute.created`` / ``updated`` / ``closed``: a dispute suspends the license;
  won, it is restored; lost, revoked. Each a receipt.
* ``account.updated``: the artist's Connect account may take charges or payouts now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Engine, update

from casset_rights.commerce import ledger
from casset_rights.commerce import store as money
from casset_rights.commerce.checkout import Checkout, payment_summary
from casset_rights.commerce.gateway import PaymentGateway
from casset_rights.commerce.models import PaymentRecord
from casset_rights.commerce.payouts import Payouts
from casset_rights.commerce.receipts import MoneyReceipts
from casset_rights.commerce.tables import stripe_events
from casset_rights.db.engine import writing
from casset_rights.licenses import store as license_store
from casset_rights.licenses.models import Grant

RECEIVED = "received"
DISPUTE_OPEN = ("warning_needs_response", "warning_under_review", "needs_response",
                "under_review")


class WebhookOutcome(msgspec.Struct, frozen=True):
    event_id: str
    type: str
    duplicate: bool
    outcome: str


class Webhooks:
    def __init__(self, *, engine: Engine, gateway: PaymentGateway, checkout: Checkout,
                 payouts: Payouts, receipts: MoneyReceipts,
                 grants_changed: Callable[[Grant], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``grants_changed(grant)`` is told, once committed, of every license a
        refund or a dispute changed, so decisions in this process see it at once (other
        processes hear of it from the database)."""
        self._engine = engine
        self._grants_changed = grants_changed
        self._gateway = gateway
        self._checkout = checkout
        self._payouts = payouts
        self._receipts = receipts
        self._clock = clock
        self._handlers: dict[str, Callable[[dict[str, Any]], str]] = {
            "payment_intent.succeeded": self._intent,
            "payment_intent.payment_failed": self._intent,
            "payment_intent.canceled": self._intent,
            "charge.refunded": self._refunded,
            "charge.dispute.created": self._dispute,
            "charge.dispute.updated": self._dispute,
            "charge.dispute.closed": self._dispute,
            "account.updated": self._account,
        }

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def receive(self, payload: bytes, signature: str | None) -> WebhookOutcome:
        """Verify, store and act on one delivery. Raises WebhookSignatureInvalid and
        WebhookInvalid (nothing stored), and PaymentProviderError when Stripe cannot be
        read back (the event stays ``received``; Stripe's next delivery acts on it)."""
        event = self._gateway.verify_event(payload, signature)
        event_id, kind = event["id"], event["type"]
        obj = (event.get("data") or {}).get("object") or {}
        object_id = obj.get("id") if isinstance(obj, dict) else None
        with writing(self._engine) as conn:
            new = money.record_event(conn, event_id=event_id, type_=kind,
                                     object_id=object_id, created=int(event.get("created") or 0),
                                     now_ms=self.now_ms(), outcome=RECEIVED,
                                     payload=payload.decode("utf-8", "replace"))
            outcome = None if new else money.event_outcome(conn, event_id)
        if outcome is not None and outcome != RECEIVED:
            return WebhookOutcome(event_id=event_id, type=kind, duplicate=True, outcome=outcome)
        handler = self._handlers.get(kind)
        done = handler(obj) if handler is not None and isinstance(obj, dict) \
            else f"{kind} is not acted on: recorded"
        with writing(self._engine) as conn:
            conn.execute(update(stripe_events).where(stripe_events.c.id == event_id)
                         .values(outcome=done[:200]))
        return WebhookOutcome(event_id=event_id, type=kind, duplicate=False, outcome=done)

    # -- handlers -------------------------------------------------------------------------

    def _intent(self, obj: dict[str, Any]) -> str:
        return self._checkout.settle(self._gateway.retrieve_intent(str(obj["id"])))

    def _account(self, obj: dict[str, Any]) -> str:
        return self._payouts.account_updated(str(obj["id"]))

    def _grant_changed(self, grant_id: str | None) -> None:
        if grant_id is None or self._grants_changed is None:
            return
        with self._engine.connect() as conn:
            grant = license_store.read_grant(conn, grant_id)
        if grant is not None:
            self._grants_changed(grant)

    def _payment_of(self, intent_id: str | None, charge_id: str | None) -> PaymentRecord | None:
        with self._engine.connect() as conn:
            found = money.read_payment(conn, intent_id=intent_id) if intent_id else None
            if found is None and charge_id:
                found = money.read_payment(conn, charge_id=charge_id)
        return found

    def _refunded(self, obj: dict[str, Any]) -> str:
        charge = self._gateway.retrieve_charge(str(obj["id"]))
        payment = self._payment_of(charge.payment_intent, charge.id)
        if payment is None:
            return f"no payment for charge {charge.id}: recorded, no effect"
        if not charge.refunded:
            return f"{payment.id}: partial refund of {charge.amount_refunded} recorded, " \
                   "the license stands"
        now = self.now_ms()
        with writing(self._engine) as conn:
            if not money.move(conn, payment.id, from_status="succeeded", to_status="refunded"):
                return f"{payment.id} is {payment.status}: nothing to refund"
            shares = self._payouts.unwind(conn, payment)
            ledger.write(conn, ledger.refund_entries(payment, at_ms=now, reference=charge.id,
                                                     shares=shares))
            receipt = self._receipts.issue("payment-refund", {
                "principal": {"kind": "service", "client_id": "stripe"},
                "request": {"action": "payment-refund", "resource": payment.resource},
                "status": "refunded", "payment": payment_summary(payment),
                "charge": charge.id, "license": payment.grant_id,
                "license_status": "revoked" if payment.grant_id else None,
                "revoked_at_ms": now if payment.grant_id else None,
                "reversed": [[a, amount] for a, amount, where in shares[1:] if where == "paid"],
            })
            if payment.grant_id:
                money.change_grant(conn, payment.grant_id, from_statuses=("active", "suspended"),
                                   to_status="revoked", at_ms=now,
                                   reason=f"payment {payment.id} was refunded",
                                   receipt_id=receipt.jti)
            self._receipts.store_in(conn, receipt)
            money.set_receipt(conn, payment.id, receipt.jti)
        self._grant_changed(payment.grant_id)
        reversed_ = self._payouts.reverse(payment.id)
        return f"{payment.id} refunded; license {payment.grant_id} revoked; " \
               f"{reversed_} transfers reversed"

    def _dispute(self, obj: dict[str, Any]) -> str:
        dispute = self._gateway.retrieve_dispute(str(obj["id"]))
        payment = self._payment_of(dispute.payment_intent, dispute.charge)
        if payment is None:
            return f"no payment for dispute {dispute.id}: recorded, no effect"
        if dispute.status == payment.dispute_status:
            return f"{payment.id}: dispute already {dispute.status}"
        # the license statuses it changes from, to, and the receipt's kind and status
        change: tuple[tuple[str, ...], str, str, str]
        if dispute.status in DISPUTE_OPEN:
            change = ("active",), "suspended", "license-suspension", "suspended"
        elif dispute.status == "won":
            change = ("suspended",), "active", "license-restoration", "restored"
        elif dispute.status == "lost":
            change = ("active", "suspended"), "revoked", "license-revocation", "revoked"
        else:
            return f"{payment.id}: dispute {dispute.status} recorded"
        from_statuses, to_status, kind, status = change
        now = self.now_ms()
        with writing(self._engine) as conn:
            receipt = self._receipts.issue(kind, {
                "principal": {"kind": "service", "client_id": "stripe"},
                "request": {"action": kind, "resource": payment.resource},
                "status": status, "payment": payment_summary(payment),
                "dispute": {"id": dispute.id, "status": dispute.status},
                "license": payment.grant_id, "at_ms": now,
            })
            changed = payment.grant_id is not None and money.change_grant(
                conn, payment.grant_id, from_statuses=from_statuses, to_status=to_status,
                at_ms=None if to_status == "active" else now,
                reason=None if to_status == "active" else f"dispute {dispute.id}: "
                                                          f"{dispute.status}",
                receipt_id=None if to_status == "active" else receipt.jti)
            self._receipts.store_in(conn, receipt)
            money.set_dispute(conn, payment.id, status=dispute.status, receipt_id=receipt.jti)
        if changed:
            self._grant_changed(payment.grant_id)
        return f"{payment.id}: dispute {dispute.status}; license {payment.grant_id} " \
               f"{status if changed else 'unchanged'}"
