"""Paying: a quote (a paid license or an unlock) or a fan's support becomes a Stripe
PaymentIntent; the license is granted only once Stripe says the payment succeeded.

``open_for_quote`` reserves first, in one transaction: the quote is used, a slot under
the route's cap taken and the payment row written with its receipt. Only then is the
intent created (a destination charge to the licensor's Connect account, the platform fee
and the upstream artists' shares as the application fee), with an idempotency key
derived from the quote, so a retry replays the same intent and never charges twice.
If Stripe refuses, the reservation is given back.

``settle`` acts on what Stripe says of the intent now (the webhook, or the payer's
``confirm``, both end here): ``succeeded`` writes the grant, the payment's state, the
ledger's charge entries and the receipts in one transaction; a failed or canceled
intent gives the slot back. Both are conditional moves of the payment's status, so
whichever of the webhook, a duplicate delivery or the payer's confirm comes first acts,
and the others change nothing. Holds expire (``expire_holds``): the intent is canceled
first, so nobody is charged for a slot that was given back.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from casset_rights.commerce import ledger
from casset_rights.commerce import store as money
from casset_rights.commerce.errors import (
    ArtistNotPayable,
    PaymentNotFound,
    PaymentProviderError,
    RouteNotPaid,
)
from casset_rights.commerce.gateway import PaymentGateway
from casset_rights.commerce.models import IntentState, PaymentKind, PaymentRecord, Split
from casset_rights.commerce.money import check_charge, platform_fee
from casset_rights.commerce.payouts import Payouts
from casset_rights.commerce.receipts import MoneyReceipts
from casset_rights.db.engine import writing
from casset_rights.licenses import store as licensing
from casset_rights.licenses.errors import LicenseCapReached, QuoteExpired, QuoteUsed
from casset_rights.licenses.models import Grant, Quote, rfc3339
from casset_rights.licenses.payments import Payment
from casset_rights.licenses.service import (
    LicenseService,
    cap_reached,
    principal_from,
    require_licensee,
)
from casset_rights.lineage import graph
from casset_rights.lineage.royalties import royalty_split
from casset_rights.policy import Money
from casset_rights.principal import Principal
from casset_rights.resources import parse_resource


class _Settled(Exception):
    """The payment was settled by someone else first (rolls the grant back)."""


def payment_summary(p: PaymentRecord) -> dict[str, Any]:
    """What a receipt records of a payment."""
    return {"id": p.id, "kind": p.kind, "intent": p.intent_id, "amount": p.amount,
            "currency": p.currency, "platform_fee": p.platform_fee, "payer": p.payer,
            "payee": p.artist_id, "quote": p.quote_id, "provider": "stripe"}


class Checkout:
    def __init__(self, *, engine: Engine, licenses: LicenseService, gateway: PaymentGateway,
                 payouts: Payouts, receipts: MoneyReceipts, fee_bps: int,
                 hold_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._licenses = licenses
        self._gateway = gateway
        self._payouts = payouts
        self._receipts = receipts
        self._fee_bps = fee_bps
        self._hold_ms = hold_seconds * 1000
        self._clock = clock

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- opening ------------------------------------------------------------------------

    def open_for_quote(self, principal: Principal, quote_id: str, *,
                       kind: PaymentKind = "license") -> PaymentRecord:
        """A PaymentIntent for a paid quote (``client_secret`` set, for the payer to
        confirm). Asking again for the same quote answers the same payment.

        Raises QuoteNotFound (unknown, or another client's), QuoteExpired, QuoteUsed,
        RouteNotPaid, UnknownCurrency, AmountBelowMinimum, ArtistNotPayable,
        LicenseCapReached and PaymentProviderError; none of them moves money.
        """
        payer = require_licensee(principal)
        quote = self._licenses.get_quote(principal, quote_id)
        again = self._existing(quote.id, payer)
        if again is not None:
            return again
        if quote.used_at_ms is not None:
            raise QuoteUsed(f"quote {quote_id!r} was already used")
        if self.now_ms() >= quote.expires_at_ms:
            raise QuoteExpired(f"quote {quote_id!r} expired at "
                               f"{rfc3339(quote.expires_at_ms)}; ask for a new one")
        route = quote.route
        if route.type != "paid" or route.price is None:
            raise RouteNotPaid(f"route {route.name!r} is a {route.type} route: obtain it "
                               "with POST /v1/licenses, no payment needed")
        record = self._new(kind=kind, payer=payer, artist_id=quote.artist_id,
                           resource=quote.resource, amount=route.price.amount,
                           currency=route.price.currency, quote=quote, message=None,
                           payment_id="pay_" + uuid.uuid4().hex)
        try:
            return self._open(record, quote=quote, principal=principal)
        except LicenseCapReached:
            if not self.expire_holds():  # a slot comes free only when a hold ended
                raise
            return self._open(record, quote=quote, principal=principal)

    def open_support(self, principal: Principal, artist_id: str, *, amount: int,
                     currency: str, message: str | None,
                     idempotency_key: str | None) -> PaymentRecord:
        """A fan's support of an artist: a PaymentIntent paying them directly. The same
        ``idempotency_key`` from the same payer answers the same payment.

        Raises UnknownCurrency, AmountBelowMinimum, ArtistNotPayable (no account, or
        not onboarded yet) and PaymentProviderError.
        """
        payer = require_licensee(principal)
        key = idempotency_key or uuid.uuid4().hex
        payment_id = "pay_" + hashlib.sha256(f"{payer}\n{artist_id}\n{key}".encode()) \
            .hexdigest()[:32]
        with self._engine.connect() as conn:
            found = money.read_payment(conn, payment_id=payment_id)
        if found is not None:
            return self._with_secret(found)
        record = self._new(kind="support", payer=payer, artist_id=artist_id, resource=None,
                           amount=amount, currency=currency, quote=None, message=message,
                           payment_id=payment_id)
        return self._open(record, quote=None, principal=principal)

    def _new(self, *, kind: PaymentKind, payer: str, artist_id: str, resource: str | None,
             amount: int, currency: str, quote: Quote | None, message: str | None,
             payment_id: str) -> PaymentRecord:
        code = check_charge(amount, currency)
        with self._engine.connect() as conn:
            account = money.read_account(conn, artist_id=artist_id)
            if account is None or not account.charges_enabled:
                state = "has no Connect account" if account is None else \
                    "has not finished Connect onboarding"
                raise ArtistNotPayable(f"artist {artist_id!r} {state}, so they cannot be "
                                       "paid yet; their paid routes, support and unlocks "
                                       "open once Stripe enables their account")
            fee = platform_fee(amount, self._fee_bps)
            splits = self._splits(conn, resource, artist_id, amount - fee)
        now = self.now_ms()
        return PaymentRecord(
            id=payment_id, kind=kind, intent_id=None, quote_id=quote.id if quote else None,
            payer=payer, artist_id=artist_id, resource=resource, amount=amount,
            currency=code, platform_fee=fee, destination=account.account_id,
            splits=splits, message=message, status="open",
            holds_slot=quote is not None and quote.route.cap is not None,
            hold_expires_at_ms=now + self._hold_ms, charge_id=None, grant_id=None,
            dispute_status=None, created_at_ms=now, settled_at_ms=None, receipt_id=None)

    @staticmethod
    def _splits(conn: Connection, resource: str | None, artist_id: str,
                net: int) -> tuple[Split, ...]:
        """The net revenue split up the lineage graph (the licensor's share first)."""
        if resource is None:
            return (Split(artist_id, net),)
        edges, _ = graph.walk(conn, parse_resource(resource), direction="ancestors",
                              max_depth=graph.WALK_LIMIT)
        shares = royalty_split(net, resource, root_artist=artist_id, edges=edges)
        mine = [Split(s.artist, s.amount) for s in shares if s.artist == artist_id]
        return tuple(mine + [Split(s.artist, s.amount) for s in shares
                             if s.artist != artist_id])

    def _open(self, record: PaymentRecord, *, quote: Quote | None,
              principal: Principal) -> PaymentRecord:
        with writing(self._engine) as conn:
            if quote is not None:
                if not licensing.use_quote(conn, quote.id, now_ms=record.created_at_ms):
                    raise QuoteUsed(f"quote {quote.id!r} was already used")
                if not licensing.take_slot(conn, quote.route):
                    raise cap_reached(quote.route)
            receipt = self._receipts.record(
                conn, "payment-open", principal=principal.for_receipt(),
                resource=record.resource, status="open", payment=payment_summary(record),
                splits=[[s.artist, s.amount] for s in record.splits],
                hold_expires_at=rfc3339(record.hold_expires_at_ms))
            record = _replace(record, receipt_id=receipt.jti)
            money.insert_payment(conn, record)
        try:
            intent = self._gateway.create_intent(
                amount=record.amount, currency=record.currency,
                metadata={"casset_payment": record.id, "casset_quote": record.quote_id or "",
                          "casset_kind": record.kind, "casset_payer": record.payer},
                destination=record.destination,
                application_fee=record.amount - record.splits[0].amount,
                transfer_group=record.id,
                description=f"{record.kind} {record.resource or record.artist_id}",
                idempotency_key=f"casset-{record.quote_id or record.id}")
        except BaseException:
            with writing(self._engine) as conn:
                money.delete_unstarted(conn, record.id)
                if quote is not None:
                    licensing.unuse_quote(conn, quote.id)
                    licensing.give_back_slot(conn, quote.route)
            raise
        with writing(self._engine) as conn:
            money.set_intent(conn, record.id, intent.id)
        return _replace(record, intent_id=intent.id, client_secret=intent.client_secret)

    def _existing(self, quote_id: str, payer: str) -> PaymentRecord | None:
        with self._engine.connect() as conn:
            found = money.read_payment(conn, quote_id=quote_id)
        if found is None or found.payer != payer or found.intent_id is None:
            return None
        return self._with_secret(found)

    def _with_secret(self, record: PaymentRecord) -> PaymentRecord:
        if record.status != "open" or record.intent_id is None:
            return record
        intent = self._gateway.retrieve_intent(record.intent_id)
        return _replace(record, client_secret=intent.client_secret)

    # -- reading ------------------------------------------------------------------------

    def get(self, principal: Principal, payment_id: str) -> PaymentRecord:
        """Raises PaymentNotFound unless the principal is the payer (or the payee)."""
        payer = require_licensee(principal)
        with self._engine.connect() as conn:
            found = money.read_payment(conn, payment_id=payment_id)
        if found is None or (found.payer != payer and f"artist:{found.artist_id}" != payer):
            raise PaymentNotFound(f"no payment {payment_id!r}")
        return found

    def confirm(self, principal: Principal, payment_id: str) -> PaymentRecord:
        """Ask Stripe how the payer's intent stands and act on it (as its webhook would);
        answers the payment as it is then."""
        found = self.get(principal, payment_id)
        if found.intent_id is not None and found.status == "open":
            self.settle(self._gateway.retrieve_intent(found.intent_id))
        return self.get(principal, payment_id)

    # -- settling -----------------------------------------------------------------------

    def settle(self, intent: IntentState) -> str:
        """Act on the intent's present state; returns what was done (for the event log).
        An intent no payment of ours made is left alone."""
        with self._engine.connect() as conn:
            record = money.read_payment(conn, intent_id=intent.id)
        if record is None:
            return f"no payment for {intent.id}: recorded, no effect"
        if intent.status == "succeeded":
            return self._succeed(record, intent)
        if intent.failed:
            return self._fail(record, intent)
        return f"{record.id} is {record.status}; the intent is {intent.status}"

    def _succeed(self, record: PaymentRecord, intent: IntentState) -> str:
        if record.status != "open":
            return f"{record.id} already {record.status}"
        now = self.now_ms()
        settled = _replace(record, charge_id=intent.charge_id)

        def in_transaction(conn: Connection, grant: Grant | None) -> None:
            if not money.move(conn, record.id, from_status="open", to_status="succeeded",
                              charge_id=intent.charge_id, settled_at_ms=now,
                              holds_slot=False, grant_id=grant.id if grant else None):
                raise _Settled
            ledger.write(conn, ledger.charge_entries(settled, at_ms=now,
                                                     charge_id=intent.charge_id,
                                                     paid_now=[record.artist_id]))
            self._payouts.hold_shares(conn, settled, now_ms=now)
            receipt = self._receipts.record(
                conn, "payment-succeeded", principal=None, resource=record.resource,
                status="succeeded", payment=payment_summary(settled),
                charge=intent.charge_id, license=grant.id if grant else None,
                message=record.message)
            money.set_receipt(conn, record.id, receipt.jti)

        try:
            if record.quote_id is None:
                with writing(self._engine) as conn:
                    in_transaction(conn, None)
            else:
                self._grant(record, intent, in_transaction)
        except _Settled:
            return f"{record.id} was settled already"
        except IntegrityError:
            # The webhook and the payer's confirm raced: the other wrote the quote's
            # grant first (one grant per quote), so this one acts no more.
            return f"{record.id} was settled already"
        self._payouts.pay_shares(record.id)
        return f"{record.id} succeeded"

    def _grant(self, record: PaymentRecord, intent: IntentState,
               in_transaction: Callable[[Connection, Grant | None], None]) -> None:
        with self._engine.connect() as conn:
            quote = licensing.read_quote(conn, record.quote_id or "")
        assert quote is not None
        payment = Payment(id=intent.id, amount=Money(amount=record.amount,
                                                     currency=record.currency),
                          provider="stripe")
        self._licenses.grant(quote, acting=principal_from(quote.principal), payment=payment,
                             use_quote=False, take_slot=False, in_transaction=in_transaction,
                             receipt_extra={"payment_record": record.id})

    def _fail(self, record: PaymentRecord, intent: IntentState) -> str:
        if record.status != "open":
            return f"{record.id} already {record.status}"
        if intent.status != "canceled":
            # Cancel before the slot is given back: the failed intent cannot be paid
            # later with another card for a license that is no longer held for it.
            try:
                intent = self._gateway.cancel_intent(intent.id)
            except PaymentProviderError:
                intent = self._gateway.retrieve_intent(intent.id)
                if intent.status == "succeeded":
                    return self._succeed(record, intent)
                raise
        return self._release(record, status="failed" if intent.last_error else "canceled",
                             why=intent.last_error or "canceled")

    def _release(self, record: PaymentRecord, *, status: str, why: str) -> str:
        now = self.now_ms()
        try:
            with writing(self._engine) as conn:
                if not money.move(conn, record.id, from_status="open", to_status=status,
                                  settled_at_ms=now, holds_slot=False):
                    raise _Settled
                receipt = self._receipts.record(
                    conn, f"payment-{status}", principal=None, resource=record.resource,
                    status=status, payment=payment_summary(record), reason=why)
                money.set_receipt(conn, record.id, receipt.jti)
                if record.holds_slot and record.quote_id is not None:
                    quote = licensing.read_quote(conn, record.quote_id)
                    assert quote is not None
                    licensing.give_back_slot(conn, quote.route)
        except _Settled:
            return f"{record.id} was settled already"
        return f"{record.id} {status}: {why}"

    def expire_holds(self, *, as_of_ms: int | None = None) -> int:
        """Cancel the intents of payments held past their time (now, or ``as_of_ms``)
        and give their slots back; an intent that turns out to have succeeded is settled
        instead. Returns how many holds ended."""
        with self._engine.connect() as conn:
            due = money.expired_holds(conn, now_ms=as_of_ms or self.now_ms())
        ended = 0
        for record in due:
            if record.intent_id is None:
                continue
            try:
                intent = self._gateway.cancel_intent(record.intent_id)
            except PaymentProviderError:
                intent = self._gateway.retrieve_intent(record.intent_id)
            if intent.status == "succeeded":
                self._succeed(record, intent)
            elif intent.status == "canceled":
                self._release(record, status="canceled", why="the hold expired")
            ended += 1
        return ended


def _replace(record: PaymentRecord, **changes: Any) -> PaymentRecord:
    return msgspec.structs.replace(record, **changes)
