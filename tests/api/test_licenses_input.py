"""Whatever a client sends to the license and lineage routes, the answer is a result or
a problem, never a 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote as quote_url

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12)
resources = st.sampled_from(["release:midnight-tapes", "hook:midnight-tapes/1/chorus",
                             "release:nowhere", "track:x", ""]) | st.text(max_size=30)
contexts = st.dictionaries(
    st.sampled_from(["purpose", "territory", "excerpt_seconds", "at", "other"]),
    st.sampled_from(["commercial", "US", "zz", -1, 1e308, "2026-01-01", None, [], {}])
    | json_values, max_size=4)
quotes = st.fixed_dictionaries(
    {"resource": resources, "route": st.sampled_from(["grounding", "remix-license", "x", ""])},
    optional={"scopes": st.lists(st.sampled_from(["ai-input", "remix", "nope"]), max_size=3)
              | json_values, "context": contexts | json_values})
introspections = st.fixed_dictionaries(
    {"token": st.text(max_size=60) | st.sampled_from(["a.b.c", "e30.e30.", ".."])},
    optional={"resource": resources, "scope": st.text(max_size=10),
              "territory": st.text(max_size=3),
              "at": st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "soon"])})
derivatives = st.fixed_dictionaries(
    {"child": resources,
     "parents": st.lists(st.fixed_dictionaries(
         {"resource": resources,
          "relationship": st.sampled_from(["remix", "sample", "stem", "cover"])},
         optional={"grant": st.text(max_size=12) | st.none()}), max_size=3) | json_values},
    optional={"context": contexts | json_values})
QUIET = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


def _answered(response: Any) -> bool:
    if response.status_code < 300:
        return True
    problem = response.json()
    return response.status_code < 500 and {"type", "title", "status", "code"} <= problem.keys()


def _post(oauth: Any, path: str, body: object, token: str) -> Any:
    return oauth.http.post(path, content=json.dumps(body), headers={
        "content-type": "application/json", "Authorization": f"Bearer {token}"})


def test_license_and_lineage_routes_never_answer_500(oauth: Any) -> None:
    token = oauth.token(oauth.agent())

    @QUIET
    @given(body=quotes | json_values)
    def quote(body: object) -> None:
        response = _post(oauth, "/v1/licenses/quotes", body, token)
        assert _answered(response), (response.status_code, response.text)

    @QUIET
    @given(body=st.fixed_dictionaries({"quote_id": st.text(max_size=70)}) | json_values)
    def obtain(body: object) -> None:
        response = _post(oauth, "/v1/licenses", body, token)
        assert _answered(response), (response.status_code, response.text)

    @QUIET
    @given(body=introspections | json_values)
    def introspect(body: object) -> None:
        response = _post(oauth, "/v1/licenses/introspect", body, token)
        assert _answered(response), (response.status_code, response.text)

    @QUIET
    @given(body=derivatives | json_values)
    def derivative(body: object) -> None:
        response = _post(oauth, "/v1/derivatives", body, token)
        assert _answered(response), (response.status_code, response.text)

    @QUIET
    @given(resource=resources, query=st.dictionaries(
        st.sampled_from(["direction", "depth", "revenue", "limit", "currency"]),
        st.sampled_from(["ancestors", "up", "0", "-5", "3", "99999999999999999999", "usd"]),
        max_size=4))
    def lineage(resource: str, query: dict[str, str]) -> None:
        response = oauth.http.get(f"/v1/lineage/{quote_url(resource, safe=':/')}",
                                  params=query)
        assert _answered(response), (response.status_code, response.text)

    for run in (quote, obtain, introspect, derivative, lineage):
        run()


def test_a_nul_anywhere_in_a_license_request_is_the_callers_error(oauth: Any) -> None:
    """PostgreSQL refuses NUL in text; SQLite stores it. Either way no 500: an unknown quote
    on SQLite, an invalid request where the database refused the text."""
    token = oauth.token(oauth.agent())
    for path, body in (("/v1/licenses", {"quote_id": "q\x00"}),
                       ("/v1/licenses/quotes", {"resource": "hook:a\x00/1/x", "route": "r"}),
                       ("/v1/derivatives", {"child": "release:x\x00", "parents": []})):
        response = _post(oauth, path, body, token)
        assert _answered(response), (path, response.status_code, response.text)
        if response.status_code == 400:
            assert response.json()["code"] == "invalid_request"
            assert "NUL" in response.json()["detail"]
    response = oauth.http.get("/v1/receipts/a%00b")
    assert _answered(response), (response.status_code, response.text)


@pytest.mark.parametrize("at", [253_402_300_800, -62_135_596_801, "9999-12-31T23:59:59-01:00",
                                "0001-01-01T00:00:00+01:00"])
def test_an_introspection_time_past_the_calendar_is_a_located_problem(client: Any,
                                                                        at: Any) -> None:
    answer = client.post("/v1/licenses/introspect", json={"token": "a.b.c", "at": at})
    assert answer.status_code == 422, answer.text
    assert "/at" in [e["pointer"] for e in answer.json()["errors"]]


@pytest.mark.parametrize("at", [253_402_300_799, -62_135_596_800, 0, 1.5,
                                "9999-12-31T23:59:59Z"])
def test_an_introspection_time_at_the_calendar_edges_is_answered(client: Any, at: Any) -> None:
    answer = client.post("/v1/licenses/introspect", json={"token": "a.b.c", "at": at})
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False
