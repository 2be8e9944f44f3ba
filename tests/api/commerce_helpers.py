"""Helpers for the commerce tests: local Stripe, settings that use it, and the steps of
paying as a payer would (the real SDK against localstripe)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from litestar.testing import TestClient
from stripe_double.server import Delivery, StripeDouble, local_stripe

from casset_rights.config import Settings, settings_from_env

HOOK = "hook:midnight-tapes/1/chorus"
COMMERCIAL = {"purpose": "commercial"}
WEBHOOK = "/v1/payments/webhooks/stripe"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stripe_settings(tmp_path: Path, double: StripeDouble, **extra: Any) -> Settings:
    return settings_from_env({}, data_dir=tmp_path / "data", load_examples=True,
                             issuer="http://rights.test", stripe_secret_key="sk_test_casset",
                             stripe_webhook_secret=double.webhook_secret,
                             stripe_api_base=double.url, **extra)


@pytest.fixture(scope="module")
def double() -> Iterator[StripeDouble]:
    """localstripe and the double, once per test module (import it with ``settings``)."""
    with local_stripe() as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, double: StripeDouble) -> Settings:
    """The service's settings, with Stripe at the local double."""
    return stripe_settings(tmp_path, double)


def payer_sdk(double: StripeDouble) -> stripe.StripeClient:
    """The payer's side of Stripe (what stripe.js does in a browser)."""
    return stripe.StripeClient("sk_test_payer", base_addresses={"api": double.url},
                               max_network_retries=0)


def pay(double: StripeDouble, intent_id: str, *, card: str = "pm_card_visa") -> str:
    """Confirm the intent with a test card; returns its status."""
    sdk = payer_sdk(double)
    sdk.v1.payment_intents.update(intent_id, {"payment_method": card})
    try:
        return str(sdk.v1.payment_intents.confirm(intent_id).status)
    except stripe.CardError:
        return "declined"


def deliver(http: TestClient[Any], delivery: Delivery) -> Any:
    return http.post(WEBHOOK, content=delivery.payload,
                     headers={"Stripe-Signature": delivery.signature,
                              "Content-Type": "application/json"})


def onboard(http: TestClient[Any], double: StripeDouble, artist_token: str,
            artist: str = "nightglass") -> str:
    """The artist gets an account and a link, finishes onboarding at Stripe, and Stripe
    says so (account.updated). Returns the account id."""
    answer = http.post(f"/v1/artists/{artist}/connect", headers=auth(artist_token),
                       json={"refresh_url": "https://casset.example/connect/again",
                             "return_url": "https://casset.example/connect/done"})
    assert answer.status_code == 200, answer.text
    account = answer.json()
    assert account["onboarding_url"].startswith(double.url)
    assert account["charges_enabled"] is False
    delivered = deliver(http, double.enable_account(account["account_id"]))
    assert delivered.status_code == 200, delivered.text
    return str(account["account_id"])


def quote_remix(http: TestClient[Any], token: str) -> dict[str, Any]:
    quote = http.post("/v1/licenses/quotes", headers=auth(token),
                      json={"resource": HOOK, "route": "remix-license",
                            "context": COMMERCIAL})
    assert quote.status_code == 201, quote.text
    return quote.json()  # type: ignore[no-any-return]


def open_payment(http: TestClient[Any], token: str, quote_id: str) -> dict[str, Any]:
    answer = http.post("/v1/payments", headers=auth(token), json={"quote_id": quote_id})
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]
