"""Caps hold under payment: 50 buyers racing for a paid route capped at 10 open exactly
10 payments (the other 40 are refused before any intent exists, so nobody is charged
for a license they did not get), the 10 pay and hold exactly 10 licenses; a failed or
expired hold gives its slot back. SQLite, and PostgreSQL when configured."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from commerce_helpers import double, pay, settings  # noqa: F401 (fixtures)
from stripe_double.server import StripeDouble
from test_licenses_support import agent, put_policy

from casset_rights.commerce.tables import ledger_entries, payments
from casset_rights.licenses import store
from casset_rights.licenses.errors import LicenseCapReached
from casset_rights.licenses.tables import license_grants

BUYERS = 50
CAP = 10
PAID_TEN = """\
policy: nightglass-glass-hours
artist: nightglass
applies_to: release:glass-hours
rules:
  - id: grounding-for-ten
    route: grounding-ten
    for: [ai-input]
    to: [agent, partner]
routes:
  grounding-ten:
    type: paid
    price: { amount: 1500, currency: usd }
    term_days: 30
    cap: 10
    obligations: [attribute]
"""


def onboarded(services: Any, double: StripeDouble) -> None:
    commerce = services.commerce
    account = commerce.payouts.onboard("nightglass", principal={"kind": "artist"},
                                       refresh_url="https://x.example/r",
                                       return_url="https://x.example/d")
    delivery = double.enable_account(account.account_id)
    commerce.webhooks.receive(delivery.payload, delivery.signature)


def count(services: Any, table: Any) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.postgres
def test_fifty_concurrent_buyers_of_a_paid_route_capped_at_ten(services: Any,
                                                              double: StripeDouble) -> None:
    put_policy(services, PAID_TEN)
    onboarded(services, double)
    checkout = services.commerce.checkout
    buyers = [agent(f"payer-{n:02d}") for n in range(BUYERS)]
    quotes = [services.licenses.quote(b, resource="release:glass-hours", route="grounding-ten")
              for b in buyers]
    start = threading.Barrier(BUYERS)

    def buy(n: int) -> Any:
        start.wait(timeout=60)
        try:
            return checkout.open_for_quote(buyers[n], quotes[n].id)
        except LicenseCapReached as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        outcomes = list(pool.map(buy, range(BUYERS)))
    opened = [o for o in outcomes if not isinstance(o, str)]
    assert len(opened) == CAP and outcomes.count("license_cap_reached") == BUYERS - CAP
    assert count(services, payments) == CAP  # no intent for the refused 40
    intents = [r for (r,) in services.engine.connect().execute(select(payments.c.intent_id))]
    assert len(set(intents)) == CAP and all(intents)

    for payment in opened:
        assert pay(double, payment.intent_id) == "succeeded"
        owner = buyers[[q.id for q in quotes].index(payment.quote_id)]
        assert checkout.confirm(owner, payment.id).status == "succeeded"
    assert count(services, license_grants) == CAP
    with services.engine.connect() as conn:
        assert store.granted_count(conn, quotes[0].route) == CAP


def test_a_failed_payment_and_an_expired_hold_give_their_slots_back(
        services: Any, double: StripeDouble) -> None:
    put_policy(services, PAID_TEN.replace("cap: 10", "cap: 1"))
    onboarded(services, double)
    checkout = services.commerce.checkout
    first, second, third = agent("payer-a"), agent("payer-b"), agent("payer-c")
    quote = lambda who: services.licenses.quote(  # noqa: E731
        who, resource="release:glass-hours", route="grounding-ten")
    held = checkout.open_for_quote(first, quote(first).id)
    q2 = quote(second)
    with pytest.raises(LicenseCapReached):
        checkout.open_for_quote(second, q2.id)
    assert pay(double, held.intent_id, card="pm_card_chargeCustomerFail") == "declined"
    assert checkout.confirm(first, held.id).status == "failed"
    # The slot came back: the next buyer gets it (a fresh quote: the refused one was
    # given back unused, so it works too).
    taken = checkout.open_for_quote(second, q2.id)
    assert taken.status == "open"
    # The hold ends: its intent is canceled at Stripe before the slot is given back.
    assert checkout.expire_holds() == 0  # not due yet
    assert checkout.expire_holds(as_of_ms=taken.hold_expires_at_ms) == 1
    intent = services.commerce.gateway.retrieve_intent(taken.intent_id)
    assert intent.status == "canceled"
    assert checkout.get(second, taken.id).status == "canceled"
    assert checkout.open_for_quote(third, quote(third).id).status == "open"


@pytest.mark.postgres
def test_the_webhook_and_the_payers_confirm_racing_grant_once(services: Any,
                                                              double: StripeDouble) -> None:
    put_policy(services, PAID_TEN)
    onboarded(services, double)
    commerce = services.commerce
    buyer = agent("racer")
    quote = services.licenses.quote(buyer, resource="release:glass-hours",
                                    route="grounding-ten")
    payment = commerce.checkout.open_for_quote(buyer, quote.id)
    assert pay(double, payment.intent_id) == "succeeded"
    delivery = double.wait_for("payment_intent.succeeded", payment.intent_id)
    start = threading.Barrier(6)

    def webhook(_: int) -> str:
        start.wait(timeout=30)
        return commerce.webhooks.receive(delivery.payload, delivery.signature).outcome

    def confirm(_: int) -> str:
        start.wait(timeout=30)
        return commerce.checkout.confirm(buyer, payment.id).status

    with ThreadPoolExecutor(max_workers=6) as pool:
        hooks = [pool.submit(webhook, n) for n in range(3)]
        confirms = [pool.submit(confirm, n) for n in range(3)]
        outcomes = [f.result() for f in hooks] + [f.result() for f in confirms]
    assert outcomes[3:] == ["succeeded"] * 3
    assert count(services, license_grants) == 1
    assert count(services, ledger_entries) == 3  # the charge's entries, once
