"""Whatever a client sends, the answer is a decision or a problem, never a 500."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from casset_rights.errors import LimitExceeded, MalformedInput
from casset_rights.limits import BODY_LIMITS, decode_json

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


@pytest.fixture(name="settings")
def unlimited_settings(settings):  # type: ignore[no-untyped-def]
    """Rate limits off: hundreds of examples from one address must reach the reader."""
    import msgspec

    return msgspec.structs.replace(settings, rate_limits_enabled=False)


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


# -- integers beyond 64 bits, and times at the edges of the calendar -------------------------

BIG = "9" * 30


@pytest.mark.parametrize(("path", "status", "code"), [
    (f"/v1/releases/midnight-tapes/versions/{BIG}", 422, "integer_out_of_range"),
    ("/v1/releases/midnight-tapes/versions/9223372036854775808", 422, "integer_out_of_range"),
    ("/v1/releases/midnight-tapes/versions/-9223372036854775809", 422, "integer_out_of_range"),
    ("/v1/releases/midnight-tapes/versions/9223372036854775807", 404, "not_found"),
    ("/v1/releases/midnight-tapes/versions/2147483648", 404, "not_found"),
    ("/v1/releases/midnight-tapes/versions/0", 404, "not_found"),
    (f"/v1/log/entries/{BIG}", 422, "integer_out_of_range"),
    (f"/v1/log/entries/-{BIG}", 422, "integer_out_of_range"),
    ("/v1/log/entries/9223372036854775807", 404, "not_found"),
    (f"/v1/releases?limit={BIG}", 422, "invalid_request"),
    (f"/v1/log/anchors?limit={BIG}", 422, "invalid_request"),
    (f"/v1/log/proofs/consistency?first=0&second={BIG}", 422, "invalid_request"),
    (f"/v1/lineage/release:midnight-tapes?revenue={BIG}&currency=usd", 422, "invalid_request"),
    (f"/v1/lineage/release:midnight-tapes?depth={BIG}", 422, "invalid_request"),
    (f"/v1/lineage/release:midnight-tapes?limit={BIG}", 422, "invalid_request"),
    ("/v1/rights/hook:midnight-tapes/1/chorus?excerpt_seconds=1e400", 422, "invalid_request"),
    ("/v1/rights/hook:midnight-tapes/1/chorus?at=9999-12-31T23:59:59-23:59", 422,
     "invalid_input"),
    ("/v1/rights/hook:midnight-tapes/1/chorus?at=0001-01-01T00:00:00%2B23:59", 422,
     "invalid_input"),
])
def test_huge_numbers_in_paths_and_queries_are_problems(client: TestClient, path: str,
                                                        status: int, code: str) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


@pytest.mark.parametrize(("at", "status"), [
    ("0001-01-01T00:00:00Z", 200), ("9999-12-31T23:59:59.999Z", 200),
    ("0001-01-01T00:00:00+23:59", 422), ("9999-12-31T23:59:59-23:59", 422),
    ("0000-01-01T00:00:00Z", 422), ("99999-01-01T00:00:00Z", 422),
    ("+275760-09-13T00:00:00Z", 422), ("1969-12-31T23:59:59Z", 200),
])
def test_times_at_the_edges_of_the_calendar(client: TestClient, at: str, status: int) -> None:
    introspected = client.post("/v1/licenses/introspect", json={"token": "a.b.c", "at": at})
    assert introspected.status_code == status, introspected.text
    if status == 200:
        assert introspected.json()["active"] is False
        assert introspected.json()["at"][:4] == at[:4]
    decided = client.post("/v1/decisions", json={
        "action": "listen", "resource": "hook:midnight-tapes/1/chorus", "context": {"at": at}})
    assert decided.status_code == status, decided.text
    grid = client.get("/v1/rights/hook:midnight-tapes/1/chorus", params={"at": at})
    assert grid.status_code == status, grid.text


# -- hostile structure: every body is read by one reader, before any handler work ------------

STATUS_OF_REFUSAL = {"body_too_large": 413, "invalid_request": 400}


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    context = draw(st.sampled_from([
        b"[" * draw(st.integers(0, 60_000)),
        b'{"at": ' + b"[" * draw(st.integers(25, 40)) + b"]" * 40 + b"}",
        b'{"excerpt_seconds": ' + b"9" * draw(st.integers(15, 5000)) + b"}",
        b'{"purpose": "commercial", "purpose": "non-commercial"}',
        b'{"' + b"k" * draw(st.integers(1, 300_000)) + b'": 1}',
        json.dumps(draw(json_values)).encode(),
    ]))
    return b'{"action": "remix", "resource": "hook:midnight-tapes/1/chorus", "context": ' \
        + context + b"}"


@QUIET
@given(raw=hostile_bodies())
def test_hostile_bodies_are_refused_as_the_reader_refuses_them(client: TestClient,
                                                                raw: bytes) -> None:
    response = client.post("/v1/decisions", content=raw,
                           headers={"content-type": "application/json"})
    assert _is_answer(response), (response.status_code, response.text)
    try:
        decode_json(raw, BODY_LIMITS)
    except (LimitExceeded, MalformedInput) as refusal:
        assert response.json()["code"] == refusal.code
        assert response.status_code == STATUS_OF_REFUSAL.get(refusal.code, 422)
        if isinstance(refusal, LimitExceeded):
            assert response.json()["limit"] == refusal.limit
