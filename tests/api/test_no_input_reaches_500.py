"""Whatever a client sends, the answer is a decision or a problem, never a 500."""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

SCOPES = ["listen", "preview", "reference", "quote", "sample", "remix", "interpret", "sync",
          "ai-input", "ai-train"]
RESOURCES = ["release:midnight-tapes", "track:midnight-tapes/1", "hook:midnight-tapes/1/chorus",
             "hook:river-engine/2/chorus", "release:salt-and-static"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)
contexts = st.dictionaries(
    st.sampled_from(["purpose", "territory", "excerpt_seconds", "at", "other"]),
    st.sampled_from(["commercial", "non-commercial", "US", "us", "ZZZ", -1, 10, 1e308,
                     "2026-01-01T00:00:00Z", "2026-01-01", None, True, [], {}]) | json_values,
    max_size=4)
bodies = st.one_of(
    st.fixed_dictionaries({"action": st.sampled_from(SCOPES) | st.text(max_size=12),
                           "resource": st.sampled_from(RESOURCES) | st.text(max_size=40)},
                          optional={"context": contexts | json_values}),
    json_values,
)
QUIET = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


def _is_answer(response) -> bool:  # type: ignore[no-untyped-def]
    if response.status_code == 200:
        return "decision" in response.json() or "scopes" in response.json()
    problem = response.json()
    return response.status_code < 500 and {"type", "title", "status", "code"} <= problem.keys()


@QUIET
@given(body=bodies)
def test_decision_bodies(client: TestClient, body: object) -> None:
    response = client.post("/v1/decisions", content=json.dumps(body),
                           headers={"content-type": "application/json"})
    assert _is_answer(response), (response.status_code, response.text)


@QUIET
@given(raw=st.binary(max_size=200))
def test_raw_bytes(client: TestClient, raw: bytes) -> None:
    response = client.post("/v1/decisions", content=raw,
                           headers={"content-type": "application/json"})
    assert _is_answer(response), (response.status_code, response.text)


@QUIET
@given(resource=st.sampled_from(RESOURCES) | st.text(max_size=60),
       purpose=st.none() | st.text(max_size=15), territory=st.none() | st.text(max_size=4),
       seconds=st.none() | st.text(max_size=6))
def test_rights_grid_paths_and_queries(client: TestClient, resource: str, purpose: str | None,
                                       territory: str | None, seconds: str | None) -> None:
    params = {k: v for k, v in (("purpose", purpose), ("territory", territory),
                                ("excerpt_seconds", seconds)) if v is not None}
    response = client.get(f"/v1/rights/{quote(resource, safe=':/')}", params=params)
    assert response.status_code < 500, (response.status_code, response.text)


def test_a_body_that_is_not_utf8_is_a_400(client: TestClient) -> None:
    response = client.post("/v1/decisions", content=b'"\x80"',
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
