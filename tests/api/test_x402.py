"""x402 v2 on a paid route, settled on the embedded chain's EIP-3009 test dollar: an
agent buys a commercial remix license with the ``x402`` package's own client, and every
bad payment is refused with nothing settled and nothing granted."""

from __future__ import annotations

from typing import Any

import pytest
from x402 import x402ClientSync
from x402.http.utils import (
    decode_payment_required_header,
    decode_payment_response_header,
    encode_payment_signature_header,
)
from x402.mechanisms.evm.exact.register import register_exact_evm_client
from x402.mechanisms.evm.signers import EthAccountSigner

from casset_rights.agents.x402pay import demo_wallet

HOOK = "hook:midnight-tapes/1/chorus"
PRICE_UNITS = 4900 * 10_000  # 49.00 USD in USDC's six decimals


@pytest.fixture
def buyer(oauth: Any) -> dict[str, Any]:
    agent = oauth.agent()
    return {"agent": agent, "headers": oauth.bearer(oauth.token(agent))}


def _quote(oauth: Any, headers: dict[str, str]) -> str:
    response = oauth.http.post("/v1/licenses/quotes", headers=headers, json={
        "resource": HOOK, "route": "remix-license", "context": {"purpose": "commercial"}})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


def _required(oauth: Any, headers: dict[str, str], quote_id: str) -> Any:
    response = oauth.http.post(f"/x402/licenses/{quote_id}", headers=headers)
    assert response.status_code == 402, response.text
    assert response.json()["code"] == "payment_required"
    return decode_payment_required_header(response.headers["payment-required"])


def _sign(services: Any, required: Any, **change: Any) -> str:
    wallet = demo_wallet(services.settings.data_dir)
    if change:
        required = required.model_copy(update={"accepts": [
            required.accepts[0].model_copy(update=change)]})
    client = x402ClientSync()
    register_exact_evm_client(client, EthAccountSigner(wallet))
    client.set_spend_controls(False)  # a test dollar: no asset list, no cap
    return encode_payment_signature_header(client.create_payment_payload(required))


def _pay(oauth: Any, headers: dict[str, str], quote_id: str, signature: str) -> Any:
    return oauth.http.post(f"/x402/licenses/{quote_id}",
                           headers={**headers, "payment-signature": signature})


def test_an_agent_buys_a_commercial_remix_license(oauth: Any, services: Any,
                                                  buyer: dict[str, Any]) -> None:
    headers = buyer["headers"]
    before = oauth.http.post("/v1/decisions", headers=headers, json={
        "action": "remix", "resource": HOOK, "context": {"purpose": "commercial"}}).json()
    assert before["decision"] == "license_required"
    quote_id = _quote(oauth, headers)
    required = _required(oauth, headers, quote_id)
    (offer,) = required.accepts
    checkout = services.x402
    assert offer.scheme == "exact" and offer.amount == str(PRICE_UNITS)
    assert offer.network == checkout.chain.network and offer.pay_to == checkout.pay_to
    assert offer.extra == {"name": "USD Coin", "version": "2"}
    paid = _pay(oauth, headers, quote_id, _sign(services, required))
    assert paid.status_code == 201, paid.text
    settlement = decode_payment_response_header(paid.headers["payment-response"])
    assert settlement.success and settlement.transaction == paid.json()["transaction"]
    assert checkout.chain.balance(checkout.pay_to) == PRICE_UNITS
    # The license's receipt names the transaction.
    license_ = paid.json()["license"]
    receipt = oauth.http.get(f"/v1/receipts/{license_['receipt_id']}").json()
    payment = receipt["payload"]["payment"] if "payload" in receipt else receipt["payment"]
    assert payment["transaction"] == settlement.transaction
    assert payment["provider"] == "x402" and payment["amount"] == str(PRICE_UNITS)
    # And the remix is now permitted.
    after = oauth.http.post("/v1/decisions", headers=headers, json={
        "action": "remix", "resource": HOOK, "context": {"purpose": "commercial"}}).json()
    assert after["decision"] == "permit"
    # Replaying the payment: the quote is used, and on a new quote the authorization is
    # spent. Nothing is settled twice.
    again = _pay(oauth, headers, quote_id, paid.request.headers["payment-signature"])
    assert again.status_code == 409
    replay = _pay(oauth, headers, _quote(oauth, headers), paid.request.headers["payment-signature"])
    assert replay.status_code == 402
    assert replay.json()["code"] == "payment_refused"
    assert "payment-required" in replay.headers
    assert checkout.chain.balance(checkout.pay_to) == PRICE_UNITS


@pytest.mark.parametrize("change, reason", [
    ({"amount": str(PRICE_UNITS - 1)}, "value"),
    ({"pay_to": "0x000000000000000000000000000000000000dEaD"}, "recipient"),
    ({"network": "eip155:8453"}, "network"),
    ({"max_timeout_seconds": 1}, "valid_before"),
])
def test_bad_payments_are_refused_and_nothing_is_granted(oauth: Any, services: Any,
                                                         buyer: dict[str, Any],
                                                         change: dict[str, Any],
                                                         reason: str) -> None:
    headers = buyer["headers"]
    quote_id = _quote(oauth, headers)
    required = _required(oauth, headers, quote_id)
    refused = _pay(oauth, headers, quote_id, _sign(services, required, **change))
    assert refused.status_code == 402, refused.text
    body = refused.json()
    assert body["code"] == "payment_refused" and reason in body["detail"]
    assert decode_payment_required_header(refused.headers["payment-required"]).accepts
    checkout = services.x402
    assert checkout.chain.balance(checkout.pay_to) == 0
    held = oauth.http.get("/v1/licenses", headers=oauth.bearer(oauth.token(
        buyer["agent"], scope="licenses:manage")))
    assert held.status_code == 200 and held.json()["items"] == []
    # The reservation was given back: the same quote is paid properly afterwards.
    paid = _pay(oauth, headers, quote_id, _sign(services, required))
    assert paid.status_code == 201, paid.text


@pytest.mark.parametrize("signature", ["!!!", "e30=", "eyJ4NDAyVmVyc2lvbiI6IDF9", "A" * 20000])
def test_malformed_payment_signatures_are_refused(oauth: Any, buyer: dict[str, Any],
                                                  signature: str) -> None:
    quote_id = _quote(oauth, buyer["headers"])
    response = _pay(oauth, buyer["headers"], quote_id, signature)
    assert response.status_code == 402, response.text
    assert response.json()["code"] == "payment_refused"


def test_the_public_and_free_routes_are_not_sold(oauth: Any, buyer: dict[str, Any]) -> None:
    assert oauth.http.post("/x402/licenses/whatever").status_code == 401
    free = oauth.http.post("/v1/licenses/quotes", headers=buyer["headers"], json={
        "resource": "release:midnight-tapes", "route": "grounding"}).json()
    response = oauth.http.post(f"/x402/licenses/{free['id']}", headers=buyer["headers"])
    assert response.status_code == 422


def test_rsl_license_server_sells_a_paid_route_through_x402(oauth: Any, services: Any,
                                                            buyer: dict[str, Any]) -> None:
    agent = buyer["agent"]
    auth = oauth.basic(agent.client.client_id, agent.secret)
    form = {"grant_type": "rsl", "resource": "http://rights.test/v1/releases/lantern-season",
            "license": '<license xmlns="https://rslstandard.org/rsl" xmlns:m='
                       '"https://casset.example/ns/rsl-music/1" m:route="derivative-license"/>'}
    asked = oauth.http.post("/olp/token", data=form, headers=auth)
    assert asked.status_code == 402, asked.text
    assert asked.json()["error"] == "payment_required"
    quote_id = asked.headers["casset-quote"]
    required = decode_payment_required_header(asked.headers["payment-required"])
    assert required.accepts[0].amount == str(25000 * 10_000)
    signature = _sign(services, required)
    bad = oauth.http.post("/olp/token", data={"quote": quote_id}, headers={
        **auth, "payment-signature": _sign(services, required, amount="1")})
    assert bad.status_code == 402 and "payment-required" in bad.headers
    paid = oauth.http.post("/olp/token", data={"quote": quote_id},
                           headers={**auth, "payment-signature": signature})
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert body["token_type"] == "License" and body["transaction"].startswith("0x")
    assert set(body["scope"].split()) == {"sample", "remix", "interpret"}
    # The License token covers a remix of the release's hooks.
    check = oauth.http.post("/olp/introspect", headers=auth, data={
        "token": body["access_token"], "scope": "remix",
        "resource": "http://rights.test/v1/releases/lantern-season"}).json()
    assert check["active"] is True
