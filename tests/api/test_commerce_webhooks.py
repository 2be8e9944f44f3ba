"""Stripe's webhooks: verified by the SDK, stored by event id, acted on once; refunds,
disputes and Connect updates, each with its receipt; and the ledger balancing."""

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
    payer_sdk,
    quote_remix,
    settings,
)
from sqlalchemy import func, select
from stripe_double.server import Delivery, StripeDouble

from casset_rights.commerce import ledger
from casset_rights.commerce.tables import ledger_entries, stripe_events
from casset_rights.receipts.tables import receipts


def paid_license(oauth: Any, double: StripeDouble, client_id: str) -> tuple[str, dict[str, Any]]:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    token = oauth.token(oauth.agent(client_id=client_id))
    payment = open_payment(http, token, quote_remix(http, token)["id"])
    assert pay(double, payment["payment_intent"]) == "succeeded"
    assert deliver(http, double.wait_for("payment_intent.succeeded",
                                         payment["payment_intent"])).status_code == 200
    return token, http.get(f"/v1/payments/{payment['id']}", headers=auth(token)).json()


def count(services: Any, table: Any) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def remix_decision(http: Any, token: str) -> str:
    return str(http.post("/v1/decisions", headers=auth(token), json={
        "action": "remix", "resource": HOOK, "context": COMMERCIAL}).json()["decision"])


def test_a_delivery_sent_ten_times_changes_state_once(oauth: Any, double: StripeDouble,
                                                      services: Any) -> None:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    token = oauth.token(oauth.agent(client_id="dup-bot"))
    payment = open_payment(http, token, quote_remix(http, token)["id"])
    pay(double, payment["payment_intent"])
    delivery = double.wait_for("payment_intent.succeeded", payment["payment_intent"])
    answers = [deliver(http, delivery) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert [a.json()["duplicate"] for a in answers] == [False] + [True] * 9
    assert len(http.get("/v1/licenses", headers=auth(token)).json()["items"]) == 1
    with services.engine.connect() as conn:
        mine = conn.execute(select(func.count()).select_from(ledger_entries)
                            .where(ledger_entries.c.payment_id == payment["id"])).scalar()
        assert mine == 3  # payer, platform fee, the licensor's share: once
        assert ledger.payment_balance(conn, payment["id"]) == 0
        kinds = [k for (k,) in conn.execute(select(receipts.c.kind))]
    assert kinds.count("payment-succeeded") == 1 and kinds.count("license-grant") == 1


def test_a_forged_signature_changes_nothing(oauth: Any, double: StripeDouble,
                                            services: Any) -> None:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    token = oauth.token(oauth.agent(client_id="forged-bot"))
    payment = open_payment(http, token, quote_remix(http, token)["id"])
    pay(double, payment["payment_intent"])
    real = double.wait_for("payment_intent.succeeded", payment["payment_intent"])
    events_before = count(services, stripe_events)
    forged = Delivery(real.payload, double.sign(real.payload, secret="whsec_not_ours"))
    answer = deliver(http, forged)
    assert answer.status_code == 400
    assert answer.json()["code"] == "webhook_signature_invalid"
    tampered = Delivery(real.payload.replace(b"succeeded", b"succeedex"), real.signature)
    assert deliver(http, tampered).json()["code"] == "webhook_signature_invalid"
    missing = http.post("/v1/payments/webhooks/stripe", content=real.payload,
                        headers={"Content-Type": "application/json"})
    assert missing.status_code == 400
    assert count(services, stripe_events) == events_before
    assert http.get(f"/v1/payments/{payment['id']}", headers=auth(token)).json()[
        "status"] == "open"


def test_a_signed_body_that_is_not_an_event_is_refused(oauth: Any,
                                                       double: StripeDouble) -> None:
    json_type = {"Content-Type": "application/json"}
    for body, status, code in [(b"not json at all", 400, "invalid_request"),
                               (b"[1, 2]", 400, "webhook_invalid"),
                               (b'{"object": "event"}', 400, "webhook_invalid")]:
        answer = oauth.http.post("/v1/payments/webhooks/stripe", content=body,
                                 headers={**json_type, "Stripe-Signature": double.sign(body)})
        assert (answer.status_code, answer.json()["code"]) == (status, code), body
    as_text = oauth.http.post("/v1/payments/webhooks/stripe", content=b"{}",
                              headers={"Content-Type": "text/plain"})
    assert as_text.json()["code"] == "unsupported_media_type"


def test_an_unknown_payments_webhook_is_recorded_and_answered_200(
        oauth: Any, double: StripeDouble, services: Any) -> None:
    intent = payer_sdk(double).v1.payment_intents.create({"amount": 700, "currency": "usd"})
    pay(double, intent.id)
    delivery = double.wait_for("payment_intent.succeeded", intent.id)
    answer = deliver(oauth.http, delivery)
    assert answer.status_code == 200
    assert "no payment for" in answer.json()["outcome"]
    assert count(services, stripe_events) == 1
    assert count(services, ledger_entries) == 0


def test_a_refund_revokes_the_license_from_that_moment_with_a_receipt(
        oauth: Any, double: StripeDouble, services: Any) -> None:
    http = oauth.http
    token, paid = paid_license(oauth, double, "refund-bot")
    assert remix_decision(http, token) == "permit"
    # The platform refunds (dashboard or API); Stripe tells us with charge.refunded.
    refund = payer_sdk(double).v1.refunds.create({"payment_intent": paid["payment_intent"]})
    charge = refund.charge
    delivery = double.wait_for("charge.refunded", charge)
    answer = deliver(http, delivery)
    assert answer.status_code == 200 and "refunded" in answer.json()["outcome"]
    for _ in range(3):  # again: nothing more happens
        assert deliver(http, delivery).json()["duplicate"] is True
    after = http.get(f"/v1/payments/{paid['id']}", headers=auth(token)).json()
    assert after["status"] == "refunded"
    license_ = http.get("/v1/licenses", headers=auth(token)).json()["items"][0]
    assert license_["status"] == "revoked" and "refunded" in license_["revocation_reason"]
    assert remix_decision(http, token) == "license_required"
    # A use before the refund stays licensed (revocation is time-aware).
    before = http.post("/v1/licenses/introspect", json={
        "token": license_["token"], "at": license_["granted_at"]}).json()
    assert before["active"] is True
    receipt = http.get(f"/v1/receipts/{license_['revocation_receipt_id']}").json()
    assert receipt["kind"] == "payment-refund"
    with services.engine.connect() as conn:
        assert ledger.payment_balance(conn, paid["id"]) == 0
        kinds = {k for (k,) in conn.execute(select(ledger_entries.c.kind)
                                           .where(ledger_entries.c.payment_id == paid["id"]))}
    assert {"payment", "platform_fee", "refund", "platform_fee_refund"} <= kinds


def test_a_dispute_suspends_the_license_and_a_won_dispute_restores_it(
        oauth: Any, double: StripeDouble, services: Any) -> None:
    http = oauth.http
    token, paid = paid_license(oauth, double, "dispute-bot")
    intent = payer_sdk(double).v1.payment_intents.retrieve(paid["payment_intent"])
    charge = intent.latest_charge if isinstance(intent.latest_charge, str) \
        else intent.latest_charge.id
    opened = double.open_dispute(charge, intent.id, 4900, "usd")
    assert deliver(http, opened).status_code == 200
    license_ = http.get("/v1/licenses", headers=auth(token)).json()["items"][0]
    assert license_["status"] == "suspended"
    assert remix_decision(http, token) == "license_required"
    closed = double.close_dispute(opened.event["data"]["object"]["id"], "won")
    assert deliver(http, closed).status_code == 200
    assert deliver(http, opened).json()["duplicate"] is True  # a late repeat: no effect
    license_ = http.get("/v1/licenses", headers=auth(token)).json()["items"][0]
    assert license_["status"] == "active"
    assert remix_decision(http, token) == "permit"
    with services.engine.connect() as conn:
        kinds = [k for (k,) in conn.execute(select(receipts.c.kind))]
    assert kinds.count("license-suspension") == 1 and kinds.count("license-restoration") == 1


def test_a_dispute_closed_before_its_opening_arrives_leaves_the_license_alone(
        oauth: Any, double: StripeDouble) -> None:
    http = oauth.http
    token, paid = paid_license(oauth, double, "ooo-bot")
    intent = payer_sdk(double).v1.payment_intents.retrieve(paid["payment_intent"])
    charge = intent.latest_charge if isinstance(intent.latest_charge, str) \
        else intent.latest_charge.id
    opened = double.open_dispute(charge, intent.id, 4900, "usd")
    closed = double.close_dispute(opened.event["data"]["object"]["id"], "won")
    assert deliver(http, closed).status_code == 200
    assert deliver(http, opened).status_code == 200  # out of order: Stripe says won now
    license_ = http.get("/v1/licenses", headers=auth(token)).json()["items"][0]
    assert license_["status"] == "active"


def test_paid_routes_of_an_artist_who_cannot_be_paid_say_so(oauth: Any) -> None:
    http = oauth.http
    token = oauth.token(oauth.agent(client_id="early-bot"))
    quote = quote_remix(http, token)
    answer = http.post("/v1/payments", headers=auth(token), json={"quote_id": quote["id"]})
    assert answer.status_code == 409 and answer.json()["code"] == "artist_not_payable"
    again = http.post("/v1/payments", headers=auth(token), json={"quote_id": quote["id"]})
    assert again.json()["code"] == "artist_not_payable"  # the quote was not used up


def test_a_payment_for_another_clients_quote_is_refused(oauth: Any,
                                                        double: StripeDouble) -> None:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    mine = oauth.token(oauth.agent(client_id="quote-owner"))
    theirs = oauth.token(oauth.agent(client_id="quote-thief"))
    quote = quote_remix(http, mine)
    answer = http.post("/v1/payments", headers=auth(theirs), json={"quote_id": quote["id"]})
    assert answer.status_code == 404 and answer.json()["code"] == "unknown_quote"
