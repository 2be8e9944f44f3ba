"""Webhook signatures made and checked offline with the SDK (Stripe's scheme:
``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import stripe

from casset_rights.commerce.errors import WebhookInvalid, WebhookSignatureInvalid
from casset_rights.commerce.gateway import StripeGateway

SECRET = "whsec_offline_test"
EVENT = json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
                    "created": 1, "data": {"object": {"id": "pi_1"}}}).encode()


@pytest.fixture
def gateway() -> StripeGateway:
    # No request is made: verification is local.
    return StripeGateway(secret_key="sk_test_offline", webhook_secret=SECRET,
                         api_base="http://127.0.0.1:9")


def by_hand(payload: bytes, secret: str, at: int) -> str:
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def test_a_signature_made_by_hand_and_by_the_sdk_verifies(gateway: StripeGateway) -> None:
    now = int(time.time())
    assert by_hand(EVENT, SECRET, now) == stripe.WebhookSignature.generate_signature_header(
        EVENT.decode(), SECRET, timestamp=now)
    event = gateway.verify_event(EVENT, by_hand(EVENT, SECRET, now))
    assert event["id"] == "evt_1" and event["data"]["object"]["id"] == "pi_1"
    # Stripe may send several v1 signatures (secret rotation): one matching is enough.
    both = by_hand(EVENT, "whsec_old", now) + "," + by_hand(EVENT, SECRET, now).split(",")[1]
    assert gateway.verify_event(EVENT, both)["id"] == "evt_1"


BAD_SIGNATURES = {
    "missing": lambda now: None,
    "empty": lambda now: "",
    "garbage": lambda now: "garbage",
    "no v1": lambda now: f"t={now}",
    "another secret": lambda now: by_hand(EVENT, "whsec_someone_else", now),
    "outside the tolerance (a replay)": lambda now: by_hand(EVENT, SECRET, now - 301),
    "for another body": lambda now: by_hand(EVENT + b" ", SECRET, now),
}


@pytest.mark.parametrize("case", list(BAD_SIGNATURES))
def test_a_bad_signature_is_refused(gateway: StripeGateway, case: str) -> None:
    signature = BAD_SIGNATURES[case](int(time.time()))
    with pytest.raises(WebhookSignatureInvalid):
        gateway.verify_event(EVENT, signature)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"object": "event"}'])
def test_a_signed_body_that_is_not_an_event_is_refused(gateway: StripeGateway,
                                                       body: bytes) -> None:
    with pytest.raises(WebhookInvalid):
        gateway.verify_event(body, by_hand(body, SECRET, int(time.time())))
