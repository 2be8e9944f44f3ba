"""Hostile bodies and contexts through the real app: each refused with its exact status and
problem code (and the limit it went beyond), before any handler work."""

from __future__ import annotations

import time
from typing import Any

import pytest
from litestar.testing import TestClient

from casset_rights.api.body import body_kind

HOOK = "hook:midnight-tapes/1/chorus"
JSON = {"content-type": "application/json"}
DEEP = 50_000


def deep(levels: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * levels + close * levels


def decision(context: bytes) -> bytes:
    return b'{"action": "remix", "resource": "' + HOOK.encode() + b'", "context": ' \
        + context + b"}"


def assert_problem(response: Any, status: int, code: str, limit: int | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status
    if limit is not None:
        assert problem["limit"] == limit


@pytest.fixture
def agent_token(oauth: Any) -> str:
    return str(oauth.token(oauth.agent()))


@pytest.mark.parametrize(("body", "status", "code", "limit"), [
    (deep(DEEP), 422, "body_too_deep", 32),
    (deep(40_000, b'{"a":', b"}"), 422, "body_too_deep", 32),
    (decision(deep(100_000)), 422, "body_too_deep", 32),
    (decision(b'{"x": ' + deep(31) + b"}"), 422, "body_too_deep", 32),
    (b'{"action": "remix", "action": "ai-train", "resource": "' + HOOK.encode() + b'"}',
     422, "duplicate_key", 1),
    (decision(b'{"purpose": "commercial", "purpose": "non-commercial"}'), 422,
     "duplicate_key", 1),
    (decision(b'{"excerpt_seconds": 123456789012345678901234567890}'), 422,
     "integer_out_of_range", 64),
    (decision(b'{"excerpt_seconds": 9223372036854775808}'), 422, "integer_out_of_range", 64),
    (decision(b'{"excerpt_seconds": -' + b"9" * 5000 + b"}"), 422, "integer_out_of_range", 64),
    (decision(b'{"excerpt_seconds": 1e400}'), 422, "number_out_of_range", 64),
    (decision(b'{"excerpt_seconds": NaN}'), 400, "invalid_request", None),
    (b'{"action": "' + b"x" * 300_000 + b'"}', 413, "body_too_large", 256 * 1024),
    (b"\xff\xfe", 400, "invalid_request", None),
])
def test_a_hostile_decision_body_is_refused_by_its_limit(client: TestClient, body: bytes,
                                                         status: int, code: str,
                                                         limit: int | None) -> None:
    assert_problem(client.post("/v1/decisions", content=body, headers=JSON), status, code,
                   limit)


def test_nesting_up_to_the_limit_is_read(client: TestClient) -> None:
    # The body is 1 level, the context 2: a context value 29 deep brings it to 31 < 32,
    # and is then refused by the context's own rules, not by the reader.
    response = client.post("/v1/decisions", content=decision(b'{"at": ' + deep(29) + b"}"),
                           headers=JSON)
    assert_problem(response, 422, "invalid_input")
    assert [e["pointer"] for e in response.json()["errors"]] == ["/context/at"]


@pytest.mark.parametrize("headers", [{}, {"content-type": "text/plain"},
                                     {"content-type": "application/x-www-form-urlencoded"},
                                     {"content-type": "application/yaml"}])
def test_a_json_body_needs_a_json_media_type(client: TestClient,
                                             headers: dict[str, str]) -> None:
    body = b'{"action": "remix", "resource": "' + HOOK.encode() + b'"}'
    assert_problem(client.post("/v1/decisions", content=body, headers=headers), 415,
                   "unsupported_media_type")


def test_a_structured_json_media_type_is_json(client: TestClient) -> None:
    response = client.post("/v1/decisions", json={"action": "remix", "resource": HOOK},
                           headers={"content-type": "application/vnd.casset+json"})
    assert response.status_code == 200, response.text


def test_a_decision_still_answers_after_the_hostile_bodies(client: TestClient) -> None:
    for body in (deep(DEEP), decision(deep(200_000)), deep(40_000, b'{"a":', b"}")):
        client.post("/v1/decisions", content=body, headers=JSON)
    answer = client.post("/v1/decisions", json={"action": "remix", "resource": HOOK})
    assert answer.status_code == 200 and answer.json()["decision"]


@pytest.mark.parametrize(("path", "anonymous"), [
    ("/oauth/register", True), ("/v1/licenses/quotes", False), ("/v1/licenses", False),
    ("/v1/licenses/introspect", True), ("/v1/derivatives", False),
    ("/v1/licenses/requests/nope/approve", False), ("/v1/licenses/nope/revoke", False),
])
def test_every_json_route_reads_its_body_under_the_limits(oauth: Any, agent_token: str,
                                                          path: str, anonymous: bool) -> None:
    headers = {**JSON} if anonymous else {**JSON, **oauth.bearer(agent_token)}
    for body, status, code in ((deep(DEEP), 422, "body_too_deep"),
                               (b'{"a": 1, "a": 2}', 422, "duplicate_key"),
                               (b'{"a": 99999999999999999999}', 422, "integer_out_of_range")):
        assert_problem(oauth.http.post(path, content=body, headers=headers), status, code)
    refused = oauth.http.post(path, content=b"{}", headers={
        **headers, "content-type": "text/plain"})
    assert_problem(refused, 415, "unsupported_media_type")


def test_release_writes_read_their_bodies_under_the_limits(oauth: Any) -> None:
    token = oauth.token(oauth.artist("nightglass"), scope="catalog:write")
    for path in ("/v1/releases", "/v1/releases/midnight-tapes/versions"):
        deep_body = oauth.http.post(path, content=deep(40_000, b'{"a":', b"}"),
                                    headers={**JSON, **oauth.bearer(token)})
        assert_problem(deep_body, 422, "body_too_deep", 32)
        untyped = oauth.http.post(path, content=b"{}", headers=oauth.bearer(token))
        assert_problem(untyped, 415, "unsupported_media_type")


def test_the_oauth_forms_are_held_to_the_size_limit(oauth: Any) -> None:
    big = b"grant_type=client_credentials&scope=" + b"x" * 300_000
    response = oauth.http.post("/oauth/token", content=big, headers={
        "content-type": "application/x-www-form-urlencoded"})
    assert_problem(response, 413, "body_too_large", 256 * 1024)
    # The rest of a refused body is left unread: the connection ends with the answer, so a
    # client that keeps connections does not send its next request after unread bytes.
    assert response.headers["connection"] == "close"


def test_the_registration_is_refused_as_a_problem_when_hostile(oauth: Any) -> None:
    assert_problem(oauth.http.post("/oauth/register", content=deep(DEEP), headers=JSON), 422,
                   "body_too_deep", 32)
    ok = oauth.http.post("/oauth/register", json={
        "client_name": "Probe", "operator": "Example Labs", "purpose": "search"})
    assert ok.status_code in (201, 400), ok.text  # OAuth answers its own metadata errors
    assert "error" in ok.json() or "client_id" in ok.json()


def test_every_route_with_a_body_declares_how_it_is_read(client: TestClient) -> None:
    """A new route that takes a body cannot skip the limits by accident."""
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.http_methods & {"POST", "PUT", "PATCH"}:
                assert body_kind(handler) in ("json", "policy", "form", "stream"), route.path


# -- context keys --------------------------------------------------------------------------


def test_an_unknown_context_key_is_a_located_error(client: TestClient) -> None:
    response = client.post("/v1/decisions", json={
        "action": "remix", "resource": HOOK, "context": {"purpos": "commercial"}})
    assert_problem(response, 422, "unknown_context_key")
    (error,) = response.json()["errors"]
    assert error["pointer"] == "/context/purpos"
    assert "purpose, territory, excerpt_seconds, at" in error["message"]


def test_an_unknown_context_key_is_a_warning_when_the_caller_prefers_lenience(
        client: TestClient) -> None:
    strict = client.post("/v1/decisions", json={"action": "remix", "resource": HOOK})
    lenient = client.post("/v1/decisions", json={
        "action": "remix", "resource": HOOK, "context": {"purpos": "commercial"}},
        headers={"Prefer": "handling=lenient"})
    assert lenient.status_code == 200, lenient.text
    answer = lenient.json()
    assert answer["decision"] == strict.json()["decision"]
    assert [(w["pointer"], w["severity"]) for w in answer["warnings"]] == [
        ("/context/purpos", "warning")]
    assert strict.json()["warnings"] == []


def test_the_rights_grid_refuses_unknown_query_parameters(client: TestClient) -> None:
    response = client.get(f"/v1/rights/{HOOK}", params={"purpos": "commercial"})
    assert_problem(response, 422, "unknown_context_key")
    assert response.json()["errors"][0]["pointer"] == "/query/purpos"
    lenient = client.get(f"/v1/rights/{HOOK}", params={"purpos": "commercial"},
                         headers={"Prefer": "respond-async, handling=lenient"})
    assert lenient.status_code == 200, lenient.text
    assert lenient.json()["warnings"][0]["pointer"] == "/query/purpos"
    at = client.get(f"/v1/rights/{HOOK}", params={"at": "2026-01-01T00:00:00Z"})
    assert at.status_code == 200 and at.json()["context"]["at"].startswith("2026-01-01")


def test_quotes_and_derivatives_refuse_unknown_context_keys(oauth: Any,
                                                            agent_token: str) -> None:
    headers = oauth.bearer(agent_token)
    for path, body in (
            ("/v1/licenses/quotes", {"resource": HOOK, "route": "remix-license",
                                     "context": {"purpos": "commercial"}}),
            ("/v1/derivatives", {"child": "release:salt-and-static", "parents": [
                {"resource": HOOK, "relationship": "remix"}], "context": {"purpos": "x"}})):
        response = oauth.http.post(path, json=body, headers=headers)
        assert_problem(response, 422, "unknown_context_key")
        assert response.json()["errors"][0]["pointer"] == "/context/purpos"


def test_a_lenient_quote_carries_its_warning(oauth: Any, agent_token: str) -> None:
    response = oauth.http.post("/v1/licenses/quotes", json={
        "resource": HOOK, "route": "remix-license",
        "context": {"purpose": "commercial", "purpos": "commercial"}},
        headers={**oauth.bearer(agent_token), "Prefer": "handling=lenient"})
    assert response.status_code == 201, response.text
    assert response.json()["warnings"][0]["pointer"] == "/context/purpos"
    assert "purpos" not in response.json()["context"]


# -- policies ------------------------------------------------------------------------------


def test_a_deeply_nested_policy_is_refused_fast(oauth: Any) -> None:
    token = oauth.token(oauth.artist("nightglass"), scope="policies:write")
    headers = {**oauth.bearer(token), "content-type": "application/yaml"}
    deep_yaml = b"policy: nightglass-midnight-tapes\nartist: nightglass\napplies_to: artist\n" \
        b"rules: " + deep(120_000) + b"\n"
    for method, path in (("PUT", "/v1/policies/nightglass-midnight-tapes"),
                         ("POST", "/v1/policies/nightglass-midnight-tapes:validate")):
        started = time.perf_counter()
        response = oauth.http.request(method, path, content=deep_yaml, headers=headers)
        assert time.perf_counter() - started < 1.0
        if method == "PUT":
            assert_problem(response, 422, "policy_invalid")
            errors = response.json()["errors"]
        else:
            assert response.status_code == 200 and response.json()["valid"] is False
            errors = response.json()["errors"]
        assert "nested more than 64 levels deep" in errors[0]["message"]
        assert errors[0]["line"] == 4


@pytest.mark.parametrize("length", ["9" * 5000, "99999999999999999999", "-1", "1e9"])
def test_a_strange_content_length_is_never_a_500(client: TestClient, length: str) -> None:
    response = client.post("/v1/decisions", content=b'{"action": "remix"}',
                           headers={**JSON, "content-length": length})
    assert 400 <= response.status_code < 500, response.text
