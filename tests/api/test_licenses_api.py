"""Licenses end to end over HTTP with OAuth tokens: decision, quote, license, use,
introspection, requests, revocation, and the problems on the way."""

from __future__ import annotations

from typing import Any

from casset_rights.licenses import verify_license_token
from casset_rights.receipts.verify import verify_receipt

MIDNIGHT = "release:midnight-tapes"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def licensed(oauth: Any, token: str) -> dict[str, Any]:
    """Decision → quote → license for the free grounding route of Midnight Tapes."""
    http = oauth.http
    decision = http.post("/v1/decisions", headers=auth(token), json={
        "action": "ai-input", "resource": MIDNIGHT}).json()
    assert decision["decision"] == "license_required"
    route = decision["license_routes"][0]["name"]
    quote = http.post("/v1/licenses/quotes", headers=auth(token),
                      json={"resource": MIDNIGHT, "route": route})
    assert quote.status_code == 201, quote.text
    obtained = http.post("/v1/licenses", headers=auth(token),
                         json={"quote_id": quote.json()["id"]})
    assert obtained.status_code == 201, obtained.text
    assert obtained.json()["status"] == "granted"
    return obtained.json()["license"]  # type: ignore[no-any-return]


def test_an_agent_acts_on_license_required_and_then_holds_a_license(oauth: Any) -> None:
    token = oauth.token(oauth.agent(client_id="search-bot"))
    http = oauth.http
    quote = http.post("/v1/licenses/quotes", headers=auth(token),
                      json={"resource": MIDNIGHT, "route": "grounding"}).json()
    assert quote["scopes"] == ["ai-input"] and quote["price"] is None
    jwks = http.get("/.well-known/jwks.json").json()
    assert verify_receipt(quote["quote"], jwks)["status"] == "quoted"
    assert http.get(f"/v1/licenses/quotes/{quote['id']}", headers=auth(token)).json()[
        "used"] is False

    license_ = licensed(oauth, token)
    claims = verify_license_token(license_["token"], jwks)
    assert claims["sub"] == "client:search-bot" and claims["scopes"] == ["ai-input"]
    assert license_["status"] == "active" and license_["route"]["type"] == "free"

    decision = http.post("/v1/decisions", headers=auth(token), json={
        "action": "ai-input", "resource": "track:midnight-tapes/2"}).json()
    assert decision["decision"] == "permit"
    assert decision["reasons"][0]["rule"] == f"grant:{license_['id']}"
    assert verify_receipt(decision["receipt"], jwks)["decision"] == "permit"

    answer = http.post("/v1/licenses/introspect", json={
        "token": license_["token"], "resource": "hook:midnight-tapes/1/chorus",
        "scope": "ai-input"}).json()
    assert answer["active"] is True and answer["jti"] == license_["id"]
    assert answer["scope"] == "ai-input" and answer["client_id"] == "search-bot"
    assert answer["token_type"] == "casset-license+jws"

    mine = http.get("/v1/licenses", headers=auth(token)).json()["items"]
    assert [item["id"] for item in mine] == [license_["id"]]


def test_the_artist_revokes_and_earlier_uses_stay_licensed(oauth: Any) -> None:
    agent_token = oauth.token(oauth.agent())
    license_ = licensed(oauth, agent_token)
    used_at = license_["granted_at"]  # a use recorded before the revocation
    http = oauth.http
    other_artist = oauth.token(oauth.artist("the-ferrymen"))
    missing = http.post(f"/v1/licenses/{license_['id']}/revoke", headers=auth(other_artist),
                        json={"reason": "not mine"})
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_license"
    nightglass = oauth.token(oauth.artist("nightglass"))
    given = http.get("/v1/licenses", headers=auth(nightglass)).json()["items"]
    assert [g["id"] for g in given] == [license_["id"]] and "token" not in given[0]
    revoked = http.post(f"/v1/licenses/{license_['id']}/revoke", headers=auth(nightglass),
                        json={"reason": "the terms changed"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    again = http.post(f"/v1/licenses/{license_['id']}/revoke", headers=auth(nightglass),
                      json={"reason": "again"})
    assert again.status_code == 409 and again.json()["code"] == "license_revoked"

    now = http.post("/v1/licenses/introspect", json={"token": license_["token"]}).json()
    assert (now["active"], now["reason"]) == (False, "revoked")
    then = http.post("/v1/licenses/introspect",
                     json={"token": license_["token"], "at": used_at}).json()
    assert then["active"] is True
    earlier = http.post("/v1/decisions", headers=auth(agent_token), json={
        "action": "ai-input", "resource": MIDNIGHT, "context": {"at": used_at}}).json()
    assert earlier["decision"] == "permit"
    decision = http.post("/v1/decisions", headers=auth(agent_token), json={
        "action": "ai-input", "resource": MIDNIGHT}).json()
    assert decision["decision"] == "license_required"


def test_a_request_route_goes_to_the_artist_who_approves(oauth: Any) -> None:
    http = oauth.http
    films = oauth.token(oauth.partner(client_id="northlight-films", name="Northlight"))
    quote = http.post("/v1/licenses/quotes", headers=auth(films),
                      json={"resource": "track:glass-hours/1", "route": "sync-request"}).json()
    pending = http.post("/v1/licenses", headers=auth(films), json={
        "quote_id": quote["id"], "message": "A short film, festivals only"})
    assert pending.status_code == 202 and pending.json()["status"] == "pending"
    request_id = pending.json()["request"]["id"]

    stranger = oauth.token(oauth.artist("mara-quell"))
    hidden = http.post(f"/v1/licenses/requests/{request_id}/approve", headers=auth(stranger),
                       json={})
    assert hidden.status_code == 404
    nightglass = oauth.token(oauth.artist("nightglass"))
    waiting = http.get("/v1/licenses/requests", params={"status": "pending"},
                       headers=auth(nightglass)).json()["items"]
    assert [w["id"] for w in waiting] == [request_id]
    assert waiting[0]["message"] == "A short film, festivals only"
    approved = http.post(f"/v1/licenses/requests/{request_id}/approve",
                         headers=auth(nightglass), json={"message": "Lovely, go ahead"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    outcome = http.get(f"/v1/licenses/requests/{request_id}", headers=auth(films)).json()
    assert outcome["decision_message"] == "Lovely, go ahead"
    assert outcome["license"]["token"] and outcome["license"]["scopes"] == ["sync"]


def test_a_refused_request_says_why(oauth: Any) -> None:
    http = oauth.http
    films = oauth.token(oauth.partner(client_id="northlight-films", name="Northlight"))
    quote = http.post("/v1/licenses/quotes", headers=auth(films),
                      json={"resource": "track:glass-hours/2", "route": "sync-request"}).json()
    request_id = http.post("/v1/licenses", headers=auth(films),
                           json={"quote_id": quote["id"]}).json()["request"]["id"]
    nightglass = oauth.token(oauth.artist("nightglass"))
    empty = http.post(f"/v1/licenses/requests/{request_id}/refuse", headers=auth(nightglass),
                      json={"message": ""})
    assert empty.status_code in (400, 422)
    refused = http.post(f"/v1/licenses/requests/{request_id}/refuse", headers=auth(nightglass),
                        json={"message": "Not for ads, sorry"})
    assert refused.json()["status"] == "refused"
    outcome = http.get(f"/v1/licenses/requests/{request_id}", headers=auth(films)).json()
    assert outcome["decision_message"] == "Not for ads, sorry" and "license" not in outcome


def test_paid_routes_answer_payments_not_configured(oauth: Any) -> None:
    http = oauth.http
    token = oauth.token(oauth.agent())
    quote = http.post("/v1/licenses/quotes", headers=auth(token), json={
        "resource": "hook:midnight-tapes/2/outro", "route": "remix-license",
        "context": {"purpose": "commercial"}}).json()
    assert quote["price"] == {"amount": 4900, "currency": "usd"}
    answer = http.post("/v1/licenses", headers=auth(token), json={"quote_id": quote["id"]})
    assert answer.status_code == 501
    problem = answer.json()
    assert problem["code"] == "payments_not_configured"
    assert "49.00 USD" in problem["detail"]
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_tokens_and_scopes_are_required(oauth: Any) -> None:
    http = oauth.http
    body = {"resource": MIDNIGHT, "route": "grounding"}
    anonymous = http.post("/v1/licenses/quotes", json=body)
    assert anonymous.status_code == 401
    read_only = oauth.token(oauth.agent(), scope="rights:read")
    narrow = http.post("/v1/licenses/quotes", headers=auth(read_only), json=body)
    assert narrow.status_code == 403 and narrow.json()["code"] == "insufficient_scope"
    assert "licenses:request" in narrow.json()["detail"]
    assert http.get("/v1/licenses", headers=auth(read_only)).status_code == 403


def test_quote_problems_are_clear(oauth: Any) -> None:
    http = oauth.http
    token = oauth.token(oauth.agent())
    unknown = http.post("/v1/licenses/quotes", headers=auth(token),
                        json={"resource": MIDNIGHT, "route": "nope"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_route"
    refused = http.post("/v1/licenses/quotes", headers=auth(token), json={
        "resource": "hook:midnight-tapes/1/chorus", "route": "remix-license",
        "scopes": ["sample"], "context": {"purpose": "commercial"}})
    assert refused.status_code == 403 and refused.json()["code"] == "route_not_offered"
    missing = http.post("/v1/licenses/quotes", headers=auth(token),
                        json={"resource": "release:nope", "route": "grounding"})
    assert missing.status_code == 404
    used = http.post("/v1/licenses/quotes", headers=auth(token),
                     json={"resource": MIDNIGHT, "route": "grounding"}).json()
    assert http.post("/v1/licenses", headers=auth(token),
                     json={"quote_id": used["id"]}).status_code == 201
    twice = http.post("/v1/licenses", headers=auth(token), json={"quote_id": used["id"]})
    assert twice.status_code == 409 and twice.json()["code"] == "quote_used"
    bad = http.post("/v1/licenses/introspect", json={"token": "not.a.token"}).json()
    assert bad == {"active": False, "at": bad["at"], "reason": "invalid_token",
                   "detail": bad["detail"]}
