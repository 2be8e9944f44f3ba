"""Lineage over HTTP: the owner registering derivatives, reading ancestors and
descendants, the problems for unknown parents, missing licenses and cycles. (Proposals
and withdrawals: test_lineage_owner_api.py.)"""

from __future__ import annotations

from typing import Any

OUTRO = "hook:midnight-tapes/2/outro"
FUN = {"purpose": "non-commercial"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(oauth: Any, token: str, child: str, *parents: dict[str, Any],
             context: dict[str, Any] | None = None) -> Any:
    return oauth.http.post("/v1/derivatives", headers=auth(token), json={
        "child": child, "parents": list(parents), "context": context or FUN})


def test_register_a_derivative_and_read_its_lineage(oauth: Any) -> None:
    token = oauth.token(oauth.artist("nightglass"))
    first = register(oauth, token, "hook:glass-hours/1/intro",
                     {"resource": OUTRO, "relationship": "remix"})
    assert first.status_code == 201, first.text
    edge = first.json()["edges"][0]
    assert edge["created"] is True and edge["grant"] is None
    assert edge["revenue_share_percent"] == 0 and first.json()["receipt_id"]
    again = register(oauth, token, "hook:glass-hours/1/intro",
                     {"resource": OUTRO, "relationship": "remix"})
    assert again.status_code == 200 and again.json()["edges"][0]["created"] is False
    assert again.json()["receipt_id"] is None

    http = oauth.http
    up = http.get("/v1/lineage/hook:glass-hours/1/intro",
                  params={"direction": "ancestors", "revenue": 1000, "currency": "usd"}).json()
    assert [n["resource"] for n in up["nodes"]] == ["hook:glass-hours/1/intro", OUTRO]
    assert up["attribution"] == [
        "\u201cGlass Hours\u201d (hook:glass-hours/1/intro) by Nightglass remixes "
        "\u201cGlass Coast\u201d (hook:midnight-tapes/2/outro) by Nightglass"]
    assert up["royalties"]["shares"] == [{
        "artist": "nightglass", "amount": 1000, "fraction": "1/1", "percent": 100.0,
        "resources": ["hook:glass-hours/1/intro", OUTRO]}]
    down = http.get("/v1/lineage/release:midnight-tapes",
                    params={"direction": "descendants", "depth": 3}).json()
    assert [e["child"] for e in down["edges"]] == ["hook:glass-hours/1/intro"]
    assert down["truncated"] is False and "royalties" not in down


def test_lineage_decisions_over_http(oauth: Any) -> None:
    token = oauth.token(oauth.artist("nightglass"))
    register(oauth, token, "hook:glass-hours/1/intro",
             {"resource": "hook:midnight-tapes/1/chorus", "relationship": "remix"})
    answer = oauth.http.post("/v1/decisions", json={
        "action": "sample", "resource": "hook:glass-hours/1/intro", "context": FUN}).json()
    assert answer["decision"] == "deny"
    assert answer["reasons"][0] == {"rule": "ancestor:hook:midnight-tapes/1/chorus",
                                    "effect": "deny"}


def test_registration_problems(oauth: Any) -> None:
    token = oauth.token(oauth.artist("the-ferrymen"))
    nightglass = oauth.token(oauth.artist("nightglass"))
    unknown = register(oauth, token, "release:river-engine",
                       {"resource": "release:nowhere", "relationship": "sample"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_parent"
    assert unknown.json()["errors"][0]["pointer"] == "/parents/0/resource"
    needs = register(oauth, token, "release:river-engine",
                     {"resource": OUTRO, "relationship": "remix"},
                     context={"purpose": "commercial"})
    assert needs.status_code == 403 and needs.json()["code"] == "grant_required"
    not_held = register(oauth, token, "release:river-engine",
                        {"resource": OUTRO, "relationship": "remix", "grant": "lic_nope"},
                        context={"purpose": "commercial"})
    assert not_held.status_code == 422 and not_held.json()["code"] == "grant_does_not_cover"
    bad = register(oauth, token, "release:river-engine",
                   {"resource": OUTRO, "relationship": "cover"})
    assert bad.status_code in (400, 422)
    register(oauth, nightglass, "hook:glass-hours/1/intro",
             {"resource": OUTRO, "relationship": "remix"})
    cycle = register(oauth, nightglass, "release:midnight-tapes",
                     {"resource": "hook:glass-hours/1/intro", "relationship": "remix"})
    assert cycle.status_code == 409 and cycle.json()["code"] == "lineage_cycle"
    assert oauth.http.post("/v1/derivatives", json={
        "child": "release:river-engine",
        "parents": [{"resource": OUTRO, "relationship": "remix"}]}).status_code == 401
    missing = oauth.http.get("/v1/lineage/release:nowhere")
    assert missing.status_code == 404
    assert oauth.http.get("/v1/lineage/release:midnight-tapes",
                          params={"depth": 0}).status_code in (400, 422)
