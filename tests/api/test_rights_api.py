"""The rights core over HTTP: catalog, decisions, the grid, receipts, discovery, bad input."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from casset_rights.canonical import content_hash
from casset_rights.receipts.verify import verify_receipt

HOOK = "hook:midnight-tapes/1/chorus"


def test_discovery_documents(client: TestClient) -> None:
    meta = client.get("/.well-known/casset-rights").json()
    assert meta["jwks_uri"] == "http://rights.test/.well-known/jwks.json"
    assert "ai-train" in meta["scopes"]
    jwks = client.get("/.well-known/jwks.json").json()
    assert jwks["keys"][0]["alg"] == "EdDSA"
    assert client.get("/schema/openapi.json").status_code == 200


def test_releases_are_paged_with_a_cursor(client: TestClient) -> None:
    first = client.get("/v1/releases", params={"limit": 4}).json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    rest = client.get("/v1/releases", params={"limit": 4, "cursor": first["next_cursor"]}).json()
    ids = [r["id"] for r in first["items"] + rest["items"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) >= 6
    assert rest["next_cursor"] is None


def test_release_head_and_versions(client: TestClient) -> None:
    head = client.get("/v1/releases/midnight-tapes").json()
    assert head["version"] == 2
    assert head["hash"] == content_hash(head["manifest"])
    v1 = client.get("/v1/releases/midnight-tapes/versions/1").json()
    assert head["previous"] == v1["hash"] == content_hash(v1["manifest"])
    assert client.get("/v1/releases/midnight-tapes/versions/9").status_code == 404
    history = client.get("/v1/releases/midnight-tapes/versions").json()["versions"]
    assert [v["version"] for v in history] == [1, 2]


def test_tracks_and_hooks(client: TestClient) -> None:
    track = client.get("/v1/tracks/midnight-tapes/1").json()
    assert track["id"] == "midnight-tapes/1"
    assert "midnight-tapes/1/chorus" in [h["id"] for h in track["hooks"]]
    hook = client.get("/v1/hooks/midnight-tapes/1/chorus").json()
    assert hook["start_ms"] < hook["end_ms"]
    assert client.get("/v1/hooks/midnight-tapes/1/nope").json()["code"] == "unknown_resource"


def test_a_decision_is_signed_stored_and_bound_to_policy_and_manifest(client: TestClient) -> None:
    answer = client.post("/v1/decisions", json={
        "action": "remix", "resource": HOOK, "context": {"purpose": "commercial"}}).json()
    assert answer["decision"] == "license_required"
    route = answer["license_routes"][0]
    assert route["type"] == "paid" and route["price"] == {"amount": 4900, "currency": "usd"}
    head = client.get("/v1/releases/midnight-tapes").json()
    assert answer["manifest_hash"] == head["hash"]

    payload = verify_receipt(answer["receipt"], client.get("/.well-known/jwks.json").json())
    assert payload["decision"] == "license_required"
    assert payload["request"] == {"action": "remix", "resource": HOOK,
                                  "context": {"purpose": "commercial"}}
    assert payload["principal"] == {"kind": "public"}
    assert payload["policy_hash"] == answer["policy_hash"]
    assert payload["policy_hash"] == content_hash([p["hash"] for p in payload["policies"]])
    assert payload["manifest_hash"] == head["hash"]

    stored = client.get(f"/v1/receipts/{answer['receipt_id']}").json()
    assert stored["receipt"] == answer["receipt"]


def test_a_decision_answers_the_documented_fields_with_the_usual_headers(
        client: TestClient) -> None:
    """The decision endpoint sends its answer as pre-encoded JSON (``JSONAnswer``): the
    OpenAPI document still describes it, field for field, and the middleware's headers
    are on it as on any other answer."""
    response = client.post("/v1/decisions", json={"action": "quote", "resource": HOOK,
                                                  "context": {"excerpt_seconds": 12}},
                           headers={"X-Request-Id": "req-decision-1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["x-request-id"] == "req-decision-1"
    schema = client.get("/schema/openapi.json").json()
    ok = schema["paths"]["/v1/decisions"]["post"]["responses"]["200"]
    name = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    documented = schema["components"]["schemas"][name]
    assert list(response.json()) == list(documented["properties"])
    assert set(documented["required"]) == set(documented["properties"])


def test_non_commercial_hook_remix_is_permitted_with_obligations(client: TestClient) -> None:
    answer = client.post("/v1/decisions", json={
        "action": "remix", "resource": HOOK, "context": {"purpose": "non-commercial"}}).json()
    assert answer["decision"] == "permit"
    types = [o["type"] for o in answer["obligations"]]
    assert "attribute" in types and "register-derivative" in types
    attribution = next(o for o in answer["obligations"] if o["type"] == "attribute")
    assert "Nightglass" in attribution["text"]


def test_ai_training_is_denied_and_the_reason_names_the_rule(client: TestClient) -> None:
    answer = client.post("/v1/decisions", json={
        "action": "ai-train", "resource": "release:salt-and-static"}).json()
    assert answer["decision"] == "deny"
    assert answer["reasons"][0]["policy"].startswith("mara-quell")


def test_the_grid_answers_every_scope_with_one_receipt(client: TestClient) -> None:
    grid = client.get(f"/v1/rights/{HOOK}", params={"purpose": "non-commercial"}).json()
    assert set(grid["scopes"]) == {"listen", "preview", "reference", "quote", "sample", "remix",
                                   "interpret", "sync", "ai-input", "ai-train"}
    assert grid["audience"] == "public"
    assert grid["scopes"]["ai-train"]["decision"] == "deny"
    assert grid["scopes"]["remix"]["decision"] == "permit"
    payload = verify_receipt(grid["receipt"], client.get("/.well-known/jwks.json").json())
    assert payload["decisions"] == {s: v["decision"] for s, v in grid["scopes"].items()}
    single = client.post("/v1/decisions", json={
        "action": "sync", "resource": HOOK, "context": {"purpose": "non-commercial"}}).json()
    assert single["decision"] == grid["scopes"]["sync"]["decision"]


@pytest.mark.parametrize(("body", "status", "code", "pointer"), [
    ({"action": "fly", "resource": HOOK}, 422, "unknown_scope", None),
    ({"action": "remix", "resource": "release:no-such"}, 404, "unknown_resource", None),
    ({"action": "remix", "resource": "hook:midnight-tapes/1/nope"}, 404, "unknown_resource", None),
    # the body's schema states a resource id's shape: refused before the domain, located
    ({"action": "remix", "resource": "Bad Id!"}, 422, "invalid_request", "/resource"),
    ({"action": 7, "resource": HOOK}, 422, "invalid_request", "/action"),
    ({"resource": HOOK}, 422, "invalid_request", None),
    ({"action": "remix", "resource": HOOK, "surprise": 1}, 422, "invalid_request", None),
    ({"action": "quote", "resource": HOOK, "context": {"excerpt_seconds": "ten"}}, 422,
     "invalid_input", "/context/excerpt_seconds"),
    ({"action": "quote", "resource": HOOK, "context": {"purpose": "charity"}}, 422,
     "invalid_input", "/context/purpose"),
])
def test_bad_input_is_a_located_problem(client: TestClient, body: dict, status: int, code: str,
                                        pointer: str | None) -> None:
    response = client.post("/v1/decisions", json=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()
    if pointer:
        assert pointer in [e["pointer"] for e in problem["errors"]]


def test_malformed_json_and_oversize_bodies(client: TestClient) -> None:
    malformed = client.post("/v1/decisions", content=b'{"action": ',
                            headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "invalid_request"
    huge = client.post("/v1/decisions", content=b'{"action": "' + b"x" * 400_000 + b'"}',
                       headers={"content-type": "application/json"})
    assert huge.status_code == 413
    assert huge.json()["code"] == "body_too_large"


def test_unknown_routes_and_receipts_are_problems(client: TestClient) -> None:
    assert client.get("/v1/nothing-here").json()["code"] == "not_found"
    assert client.get("/v1/receipts/nope").json()["code"] == "not_found"
    response = client.get("/v1/releases", params={"limit": 0})
    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = client.get("/v1/releases", headers={"x-request-id": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    problem = client.get("/v1/receipts/nope").json()
    assert problem["request_id"]


def test_a_policy_aimed_at_another_artists_release_is_not_trusted(services, client) -> None:  # type: ignore[no-untyped-def]
    services.policies.put(
        "policy: intruder\nartist: mara-quell\napplies_to: release:midnight-tapes\nrules:\n"
        "  - id: all\n    permit: [ai-train]\n    to: any\n", source_name="intruder.yaml")
    services.index.refresh(force=True)
    answer = client.post("/v1/decisions", json={
        "action": "ai-train", "resource": "release:midnight-tapes"}).json()
    assert answer["decision"] == "deny"
    assert "intruder" not in [p["policy"] for p in answer["reasons"]]
