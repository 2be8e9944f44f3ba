"""Without Stripe keys the service runs as before and names what needs payments."""

from __future__ import annotations

from typing import Any


def test_without_stripe_keys_payment_routes_answer_501_and_the_rest_works(oauth: Any) -> None:
    http = oauth.http
    token = oauth.token(oauth.agent(client_id="no-stripe"))
    headers = {"Authorization": f"Bearer {token}"}
    for path, body in [("/v1/payments", {"quote_id": "q"}),
                       ("/v1/artists/nightglass/support", {"amount": 500, "currency": "usd"})]:
        answer = http.post(path, headers=headers, json=body)
        assert answer.status_code == 501, answer.text
        assert answer.json()["code"] == "payments_not_configured"
        assert "Stripe" in answer.json()["detail"]
    webhook = http.post("/v1/payments/webhooks/stripe", content=b"{}",
                        headers={"Content-Type": "application/json"})
    assert webhook.status_code == 501
    quote = http.post("/v1/licenses/quotes", headers=headers, json={
        "resource": "hook:midnight-tapes/1/chorus", "route": "remix-license",
        "context": {"purpose": "commercial"}}).json()
    paid = http.post("/v1/licenses", headers=headers, json={"quote_id": quote["id"]})
    assert paid.status_code == 501 and paid.json()["code"] == "payments_not_configured"
