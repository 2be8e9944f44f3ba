"""``Idempotency-Key`` on the writes that spend something: the same key and request
answer the first outcome again (nothing is done twice); the same key with another
request is a 422 problem; keys are the caller's own."""

from __future__ import annotations

from typing import Any

MIDNIGHT = "release:midnight-tapes"
INTRO = "hook:glass-hours/1/intro"
OUTRO = "hook:midnight-tapes/2/outro"
FUN = {"purpose": "non-commercial"}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def quote(oauth: Any, headers: dict[str, str], resource: str = MIDNIGHT,
          route: str = "grounding") -> str:
    answer = oauth.http.post("/v1/licenses/quotes", headers=headers,
                             json={"resource": resource, "route": route})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_obtaining_twice_with_one_key_gives_one_license(oauth: Any) -> None:
    http = oauth.http
    bot = oauth.bearer(oauth.token(oauth.agent(client_id="bot")))
    quote_id = quote(oauth, bot)
    first = http.post("/v1/licenses", json={"quote_id": quote_id}, headers=keyed(bot, "k-1"))
    assert first.status_code == 201, first.text
    again = http.post("/v1/licenses", json={"quote_id": quote_id}, headers=keyed(bot, "k-1"))
    assert again.status_code == 201 and again.json() == first.json()
    held = http.get("/v1/licenses", headers=bot).json()["items"]
    assert [g["id"] for g in held] == [first.json()["license"]["id"]]
    # Without the key, the spent quote says so.
    spent = http.post("/v1/licenses", json={"quote_id": quote_id}, headers=bot)
    assert spent.status_code == 409 and spent.json()["code"] == "quote_used"
    # The same key for another request is refused, and nothing is done.
    other = quote(oauth, bot)
    reused = http.post("/v1/licenses", json={"quote_id": other}, headers=keyed(bot, "k-1"))
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"].startswith("application/problem+json")
    assert reused.json()["code"] == "idempotency_key_reused"
    assert http.get(f"/v1/licenses/quotes/{other}", headers=bot).json()["used"] is False
    # Keys are per caller: another client's k-1 is its own.
    rival = oauth.bearer(oauth.token(oauth.agent(client_id="rival")))
    theirs = http.post("/v1/licenses", json={"quote_id": quote(oauth, rival)},
                       headers=keyed(rival, "k-1"))
    assert theirs.status_code == 201 and theirs.json() != first.json()
    too_long = http.post("/v1/licenses", json={"quote_id": other},
                         headers=keyed(bot, "k" * 300))
    assert too_long.status_code in (400, 422)


def test_approving_and_revoking_replay_under_their_keys(oauth: Any) -> None:
    http = oauth.http
    films = oauth.bearer(oauth.token(oauth.agent(client_id="films")))
    artist = oauth.bearer(oauth.token(oauth.artist("nightglass")))
    quote_id = quote(oauth, films, resource="track:glass-hours/1", route="sync-request")
    pending = http.post("/v1/licenses", json={"quote_id": quote_id}, headers=keyed(films, "q"))
    assert pending.status_code == 202 and http.post(
        "/v1/licenses", json={"quote_id": quote_id}, headers=keyed(films, "q")).json() \
        == pending.json()
    request_id = pending.json()["request"]["id"]
    path = f"/v1/licenses/requests/{request_id}/approve"
    approved = http.post(path, json={"message": "yes"}, headers=keyed(artist, "a"))
    assert approved.status_code == 200, approved.text
    replayed = http.post(path, json={"message": "yes"}, headers=keyed(artist, "a"))
    assert replayed.status_code == 200 and replayed.json() == approved.json()
    assert http.post(path, json={"message": "no"}, headers=keyed(artist, "a")).json()[
        "code"] == "idempotency_key_reused"
    license_id = approved.json()["license"]["id"]
    revoke = f"/v1/licenses/{license_id}/revoke"
    revoked = http.post(revoke, json={"reason": "ran long"}, headers=keyed(artist, "r"))
    assert revoked.status_code == 200, revoked.text
    assert http.post(revoke, json={"reason": "ran long"},
                     headers=keyed(artist, "r")).json() == revoked.json()
    assert http.post(revoke, json={"reason": "ran long"}, headers=artist).json()[
        "code"] == "license_revoked"


def test_a_registration_replays_even_after_its_edge_was_withdrawn(oauth: Any) -> None:
    http = oauth.http
    owner = oauth.bearer(oauth.token(oauth.artist("nightglass")))
    body = {"child": INTRO, "parents": [{"resource": OUTRO, "relationship": "remix"}],
            "context": FUN}
    first = http.post("/v1/derivatives", json=body, headers=keyed(owner, "d"))
    assert first.status_code == 201, first.text
    withdraw = {"child": INTRO, "parent": OUTRO, "relationship": "remix", "reason": "oops"}
    gone = http.post("/v1/derivatives/withdraw", json=withdraw, headers=keyed(owner, "w"))
    assert gone.status_code == 200, gone.text
    assert http.post("/v1/derivatives/withdraw", json=withdraw,
                     headers=keyed(owner, "w")).json() == gone.json()
    replay = http.post("/v1/derivatives", json=body, headers=keyed(owner, "d"))
    assert replay.status_code == 201 and replay.json() == first.json()
    # The retry declared nothing again: the only edge is the withdrawn one.
    assert http.get(f"/v1/lineage/{INTRO}").json()["edges"] == []
    assert http.post("/v1/derivatives", json={**body, "context": {"purpose": "commercial"}},
                     headers=keyed(owner, "d")).json()["code"] == "idempotency_key_reused"
