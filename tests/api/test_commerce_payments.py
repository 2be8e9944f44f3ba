"""Paid licenses end to end through Stripe (the real SDK; localstripe and the double in
tests/stripe_double): quote, payment, the payer confirms, Stripe's webhook, license."""

from __future__ import annotations

from typing import Any

from commerce_helpers import (  # noqa: F401 (double and settings are fixtures)
    COMMERCIAL,
    HOOK,
    auth,
    deliver,
    double,
    onboard,
    open_payment,
    pay,
    quote_remix,
    settings,
)
from sqlalchemy import update
from stripe_double.server import StripeDouble

from casset_rights.licenses.tables import license_quotes
from casset_rights.receipts.verify import verify_receipt


def test_a_partner_pays_for_a_paid_license_and_holds_it_once_stripe_says_so(
        oauth: Any, double: StripeDouble) -> None:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    token = oauth.token(oauth.partner(client_id="tidewater"))
    quote = quote_remix(http, token)
    payment = open_payment(http, token, quote["id"])
    assert payment["status"] == "open" and payment["amount"] == 4900
    assert payment["platform_fee"] == 490 and payment["client_secret"]
    intent = payment["payment_intent"]
    # Before the money: no license, and the quote cannot buy one directly either.
    decision = http.post("/v1/decisions", headers=auth(token), json={
        "action": "remix", "resource": HOOK, "context": COMMERCIAL}).json()
    assert decision["decision"] == "license_required"

    assert pay(double, intent) == "succeeded"
    delivered = deliver(http, double.wait_for("payment_intent.succeeded", intent))
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["outcome"] == f"{payment['id']} succeeded"

    paid = http.get(f"/v1/payments/{payment['id']}", headers=auth(token)).json()
    assert paid["status"] == "succeeded" and paid["license_id"].startswith("lic_")
    decision = http.post("/v1/decisions", headers=auth(token), json={
        "action": "remix", "resource": HOOK, "context": COMMERCIAL}).json()
    assert decision["decision"] == "permit"
    assert decision["reasons"][0]["rule"] == f"grant:{paid['license_id']}"
    # The license's receipt names the payment.
    licenses = http.get("/v1/licenses", headers=auth(token)).json()["items"]
    assert licenses[0]["payment_id"] == intent
    jwks = http.get("/.well-known/jwks.json").json()
    grant_receipt = http.get(f"/v1/receipts/{licenses[0]['receipt_id']}").json()
    claims = verify_receipt(grant_receipt["receipt"], jwks)
    assert claims["payment"]["id"] == intent and claims["payment_record"] == payment["id"]


def test_a_confirmed_intent_is_checked_with_stripe_without_waiting_for_the_webhook(
        oauth: Any, double: StripeDouble) -> None:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    token = oauth.token(oauth.agent(client_id="remix-bot"))
    payment = open_payment(http, token, quote_remix(http, token)["id"])
    still_open = http.post(f"/v1/payments/{payment['id']}/confirm", headers=auth(token))
    assert still_open.json()["status"] == "open" and still_open.json()["license"] is None
    assert pay(double, payment["payment_intent"]) == "succeeded"
    confirmed = http.post(f"/v1/payments/{payment['id']}/confirm", headers=auth(token))
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "succeeded" and body["license"]["status"] == "active"
    # The webhook arriving afterwards changes nothing.
    late = deliver(http, double.wait_for("payment_intent.succeeded",
                                         payment["payment_intent"]))
    assert late.status_code == 200 and "already succeeded" in late.json()["outcome"]
    assert len(http.get("/v1/licenses", headers=auth(token)).json()["items"]) == 1


def test_a_retry_for_the_same_quote_answers_the_same_payment(oauth: Any,
                                                             double: StripeDouble) -> None:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    token = oauth.token(oauth.agent(client_id="retry-bot"))
    quote = quote_remix(http, token)
    first = open_payment(http, token, quote["id"])
    again = http.post("/v1/payments", headers=auth(token), json={"quote_id": quote["id"]})
    assert again.status_code == 201
    assert again.json()["id"] == first["id"]
    assert again.json()["payment_intent"] == first["payment_intent"]


def test_a_declined_card_gives_the_reservation_back_and_grants_nothing(
        oauth: Any, double: StripeDouble) -> None:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    token = oauth.token(oauth.agent(client_id="declined-bot"))
    payment = open_payment(http, token, quote_remix(http, token)["id"])
    assert pay(double, payment["payment_intent"], card="pm_card_chargeCustomerFail") == \
        "declined"
    failed = deliver(http, double.wait_for("payment_intent.payment_failed",
                                           payment["payment_intent"]))
    assert failed.status_code == 200, failed.text
    after = http.get(f"/v1/payments/{payment['id']}", headers=auth(token)).json()
    assert after["status"] == "failed" and after["license_id"] is None
    assert http.get("/v1/licenses", headers=auth(token)).json()["items"] == []


def test_a_paid_quote_cannot_be_obtained_without_paying(oauth: Any,
                                                        double: StripeDouble) -> None:
    http = oauth.http
    token = oauth.token(oauth.agent(client_id="freeloader"))
    quote = quote_remix(http, token)
    answer = http.post("/v1/licenses", headers=auth(token), json={"quote_id": quote["id"]})
    assert answer.status_code == 402
    assert answer.json()["code"] == "payment_required"
    assert "/v1/payments" in answer.json()["detail"]


def test_bad_quotes_are_refused_with_stable_codes_before_stripe_is_asked(
        oauth: Any, double: StripeDouble, services: Any) -> None:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    token = oauth.token(oauth.agent(client_id="bad-quotes"))
    intents_before = double.requests.count(("POST", "/v1/payment_intents"))

    def pay_for(quote_id: str) -> Any:
        return http.post("/v1/payments", headers=auth(token), json={"quote_id": quote_id})

    free = http.post("/v1/licenses/quotes", headers=auth(token), json={
        "resource": "release:midnight-tapes", "route": "grounding"}).json()
    answer = pay_for(free["id"])
    assert (answer.status_code, answer.json()["code"]) == (422, "route_not_paid")
    assert http.post("/v1/licenses", headers=auth(token),
                     json={"quote_id": free["id"]}).status_code == 201
    answer = pay_for(free["id"])
    assert (answer.status_code, answer.json()["code"]) == (409, "quote_used")
    stale = quote_remix(http, token)
    with services.engine.begin() as conn:  # the quote's fifteen minutes have passed
        conn.execute(update(license_quotes).where(license_quotes.c.id == stale["id"])
                     .values(expires_at_ms=1))
    answer = pay_for(stale["id"])
    assert (answer.status_code, answer.json()["code"]) == (422, "quote_expired")
    answer = pay_for("no-such-quote")
    assert (answer.status_code, answer.json()["code"]) == (404, "unknown_quote")
    answer = http.post("/v1/payments", headers=auth(token), json={"quote": "x"})
    assert answer.status_code in (400, 422)
    assert double.requests.count(("POST", "/v1/payment_intents")) == intents_before
