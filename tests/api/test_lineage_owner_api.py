"""Lineage belongs to the child's owner, over HTTP: others propose, the owner accepts or
declines, the owner (or a partner the artist authorised) withdraws; each a receipt."""

from __future__ import annotations

from typing import Any

OUTRO = "hook:midnight-tapes/2/outro"
CHORUS = "hook:midnight-tapes/1/chorus"
INTRO = "hook:glass-hours/1/intro"  # Nightglass's
FUN = {"purpose": "non-commercial"}


def sample_of_intro(oauth: Any) -> str:
    return str(oauth.http.post("/v1/decisions", json={
        "action": "sample", "resource": INTRO, "context": FUN}).json()["decision"])


def test_others_propose_and_the_owner_decides(oauth: Any) -> None:
    http, bearer = oauth.http, oauth.bearer
    agent = bearer(oauth.token(oauth.agent(client_id="stranger")))
    owner = bearer(oauth.token(oauth.artist("nightglass")))
    edge = {"child": INTRO, "parents": [{"resource": CHORUS, "relationship": "remix"}],
            "context": FUN}
    refused = http.post("/v1/derivatives", json=edge, headers=agent)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "not_lineage_owner"
    assert sample_of_intro(oauth) == "permit"  # nothing changed for anyone

    proposed = http.post("/v1/derivatives/proposals", json={**edge, "message": "it is"},
                         headers=agent)
    assert proposed.status_code == 201, proposed.text
    proposal = proposed.json()
    assert proposal["status"] == "pending" and proposal["proposer"]["client_id"] == "stranger"
    assert sample_of_intro(oauth) == "permit"  # a proposal changes no decision
    waiting = http.get("/v1/derivatives/proposals", params={"status": "pending"},
                       headers=owner).json()["items"]
    assert [p["id"] for p in waiting] == [proposal["id"]]
    onlooker = bearer(oauth.token(oauth.agent(client_id="onlooker")))
    assert http.get(f"/v1/derivatives/proposals/{proposal['id']}",
                    headers=onlooker).status_code == 404
    assert http.post(f"/v1/derivatives/proposals/{proposal['id']}/accept", json={},
                     headers=agent).json()["code"] == "not_lineage_owner"

    accepted = http.post(f"/v1/derivatives/proposals/{proposal['id']}/accept",
                         json={"message": "thanks"}, headers=owner)
    assert accepted.status_code == 201, accepted.text
    body = accepted.json()
    receipt = body["registration"]["receipt_id"]
    assert body["status"] == "accepted" and body["decision_receipt_id"] == receipt
    stored = http.get(f"/v1/receipts/{receipt}").json()
    assert stored["payload"]["proposal"] == proposal["id"]
    assert stored["payload"]["principal"]["sub"] == "nightglass"
    assert sample_of_intro(oauth) == "deny"  # the chorus upstream is not sampled
    again = http.post(f"/v1/derivatives/proposals/{proposal['id']}/decline",
                      json={"message": "changed my mind"}, headers=owner)
    assert again.status_code == 409 and again.json()["code"] == "proposal_already_decided"
    mine = http.get(f"/v1/derivatives/proposals/{proposal['id']}", headers=agent).json()
    assert mine["status"] == "accepted" and mine["decision_message"] == "thanks"


def test_a_declined_proposal_declares_nothing(oauth: Any) -> None:
    http, bearer = oauth.http, oauth.bearer
    agent = bearer(oauth.token(oauth.agent(client_id="stranger")))
    owner = bearer(oauth.token(oauth.artist("nightglass")))
    proposal = http.post("/v1/derivatives/proposals", headers=agent, json={
        "child": INTRO, "parents": [{"resource": CHORUS, "relationship": "remix"}],
        "context": FUN}).json()
    declined = http.post(f"/v1/derivatives/proposals/{proposal['id']}/decline",
                         json={"message": "it is not"}, headers=owner)
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"
    receipt = http.get(f"/v1/receipts/{declined.json()['decision_receipt_id']}").json()
    assert receipt["kind"] == "derivative-proposal-declined"
    assert sample_of_intro(oauth) == "permit"
    assert http.get("/v1/derivatives/edges", params={"child": INTRO},
                    headers=owner).json()["edges"] == []
    assert http.post("/v1/derivatives/proposals", headers=owner, json={
        "child": INTRO, "parents": [{"resource": CHORUS, "relationship": "remix"}],
        "context": FUN}).json()["code"] == "invalid_input"  # the owner registers instead
    problems = http.post("/v1/derivatives/proposals", headers=agent, json={
        "child": INTRO, "parents": [{"resource": "release:nowhere", "relationship": "remix"}]})
    assert problems.status_code == 422 and problems.json()["code"] == "unknown_parent"


def test_the_owner_withdraws_an_edge_and_decisions_follow_at_once(oauth: Any) -> None:
    http, bearer = oauth.http, oauth.bearer
    owner = bearer(oauth.token(oauth.artist("nightglass")))
    created = http.post("/v1/derivatives", headers=owner, json={
        "child": INTRO, "parents": [{"resource": CHORUS, "relationship": "remix"}],
        "context": FUN}).json()
    assert sample_of_intro(oauth) == "deny"
    withdraw = {"child": INTRO, "parent": CHORUS, "relationship": "remix",
                "reason": "declared by mistake"}
    agent = bearer(oauth.token(oauth.agent()))
    assert http.post("/v1/derivatives/withdraw", json=withdraw,
                     headers=agent).json()["code"] == "not_lineage_owner"
    assert http.post("/v1/derivatives/withdraw", json=withdraw).status_code == 401
    done = http.post("/v1/derivatives/withdraw", json=withdraw, headers=owner)
    assert done.status_code == 200, done.text
    edge = done.json()
    assert edge["id"] == created["edges"][0]["id"] and edge["withdrawn_at"]
    receipt = http.get(f"/v1/receipts/{edge['withdrawal_receipt_id']}").json()
    assert receipt["kind"] == "derivative-withdrawal"
    assert receipt["payload"]["edge"]["receipt"] == created["receipt_id"]
    assert sample_of_intro(oauth) == "permit"
    assert http.get(f"/v1/lineage/{INTRO}").json()["edges"] == []
    history = http.get("/v1/derivatives/edges", params={"child": INTRO},
                       headers=owner).json()["edges"]
    assert [(e["id"], e["withdrawn_at"] is not None) for e in history] == [(edge["id"], True)]
    gone = http.post("/v1/derivatives/withdraw", json=withdraw, headers=owner)
    assert gone.status_code == 404 and gone.json()["code"] == "edge_not_found"
    # Declared again: a new edge, the withdrawn one kept beside it.
    again = http.post("/v1/derivatives", headers=owner, json={
        "child": INTRO, "parents": [{"resource": CHORUS, "relationship": "remix"}],
        "context": FUN})
    assert again.status_code == 201 and sample_of_intro(oauth) == "deny"
    history = http.get("/v1/derivatives/edges", params={"child": INTRO},
                       headers=owner).json()["edges"]
    assert [e["withdrawn_at"] is None for e in history] == [False, True]


def test_a_partner_the_artist_authorised_declares_and_withdraws(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist("nightglass")
    code, verifier = oauth.code_for(partner, artist, scope="licenses:manage")
    token = oauth.exchange(partner, code, verifier).json()["access_token"]
    http, acting = oauth.http, oauth.bearer(token)
    made = http.post("/v1/derivatives", headers=acting, json={
        "child": INTRO, "parents": [{"resource": OUTRO, "relationship": "remix"}],
        "context": FUN})
    assert made.status_code == 201, made.text
    other = http.post("/v1/derivatives", headers=acting, json={
        "child": "hook:river-engine/1/intro",
        "parents": [{"resource": OUTRO, "relationship": "remix"}], "context": FUN})
    assert other.status_code == 403 and other.json()["code"] == "not_lineage_owner"
    withdrawn = http.post("/v1/derivatives/withdraw", headers=acting, json={
        "child": INTRO, "parent": OUTRO, "relationship": "remix", "reason": "wrong hook"})
    assert withdrawn.status_code == 200, withdrawn.text


def test_a_proposal_with_a_mistyped_context_key_is_refused(oauth: Any) -> None:
    agent = oauth.bearer(oauth.token(oauth.agent()))
    typo = oauth.http.post("/v1/derivatives/proposals", headers=agent, json={
        "child": INTRO, "parents": [{"resource": CHORUS, "relationship": "remix"}],
        "context": {"purpos": "non-commercial"}})
    assert typo.status_code == 422 and typo.json()["code"] == "unknown_context_key"
