"""Whatever reaches the OAuth endpoints, the bearer check or the policy dry run, the
answer is an OAuth error, a problem or a page: never a 500."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

QUIET = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])
NAMES = ["grant_type", "client_id", "client_secret", "scope", "code", "redirect_uri",
         "code_verifier", "refresh_token", "token", "token_type_hint", "response_type",
         "state", "code_challenge", "code_challenge_method", "client_assertion",
         "client_assertion_type", "decision", "artist_client_id", "artist_secret"]
VALUES = st.sampled_from(["client_credentials", "authorization_code", "refresh_token",
                          "code", "S256", "plain", "approve", "rights:read", "a.b.c",
                          "https://tidewater.example/oauth/callback", '"', "\\", "\u00e9",
                          "\x00", "%", ""]) | st.text(max_size=30)
FORMS = st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=8), VALUES),
                 max_size=8)
HEADERS = st.sampled_from(["", "Basic", "Basic !!!", "Basic " + "YTpi", "Bearer",
                           "Bearer a.b.c", "Bearer \u00e9"]) | st.text(max_size=40)


def _ok(response: Any) -> bool:
    return response.status_code < 500


def _headers(value: str) -> dict[str, str]:
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        return {}
    return {"Authorization": value} if value and value.isprintable() else {}


@QUIET
@given(form=FORMS, auth=HEADERS,
       path=st.sampled_from(["/oauth/token", "/oauth/introspect", "/oauth/revoke",
                             "/oauth/authorize"]))
def test_oauth_forms(oauth: Any, form: list[tuple[str, str]], auth: str, path: str) -> None:
    body = urlencode(form).encode()
    response = oauth.http.post(path, content=body, follow_redirects=False, headers={
        **_headers(auth), "Content-Type": "application/x-www-form-urlencoded"})
    assert _ok(response), (response.status_code, response.text)


@QUIET
@given(form=FORMS)
def test_authorization_requests(oauth: Any, form: list[tuple[str, str]]) -> None:
    response = oauth.http.get("/oauth/authorize", params=form, follow_redirects=False)
    assert _ok(response), (response.status_code, response.text)


@QUIET
@given(body=st.binary(max_size=120) | st.text(max_size=120).map(str.encode))
def test_registration_bodies(oauth: Any, body: bytes) -> None:
    response = oauth.http.post("/oauth/register", content=body,
                               headers={"Content-Type": "application/json"})
    assert _ok(response), (response.status_code, response.text)


REGISTRATION_SHAPES = st.sampled_from([
    lambda n: b"[" * n + b"]" * n,
    lambda n: b'{"client_name": ' + b"[" * n + b"]" * n + b"}",
    lambda n: b'{"client_name": "a", "client_name": "b", "n": ' + b"9" * (n % 5000 + 1) + b"}",
    lambda n: b'{"redirect_uris": [' + b",".join([b'"https://x.example/cb"'] * (n % 9000)) + b"]}",
    lambda n: b'{"jwks": {"keys": [' + b'{"kty": "OKP", "x": ' * (n % 60) + b"1"
    + b"}" * (n % 60) + b"]}}",
])


@QUIET
@given(shape=REGISTRATION_SHAPES, n=st.integers(0, 60_000),
       media=st.sampled_from(["application/json", "text/plain", ""]))
def test_hostile_registrations_are_refused_and_the_server_answers(
        oauth: Any, shape: Any, n: int, media: str) -> None:
    headers = {"Content-Type": media} if media else {}
    response = oauth.http.post("/oauth/register", content=shape(n), headers=headers)
    assert _ok(response), (response.status_code, response.text)
    if response.headers["content-type"].startswith("application/problem+json"):
        assert response.json()["code"] in {
            "body_too_deep", "body_too_large", "duplicate_key", "integer_out_of_range",
            "unsupported_media_type", "invalid_request", "rate_limited"}
    else:  # read under the limits: RFC 7591's own answer
        assert response.status_code in (201, 400), response.text


@QUIET
@given(auth=HEADERS)
def test_bearer_headers(oauth: Any, auth: str) -> None:
    response = oauth.http.get("/v1/releases", headers=_headers(auth))
    assert _ok(response), (response.status_code, response.text)


@QUIET
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_policy_bodies(oauth: Any, body: bytes) -> None:
    token = oauth.services.auth.server.token_issuer.mint(
        client_id="artist-x", subject="nightglass", kind="artist", scope="policies:write",
        attributes={}).token
    for method, path in (("POST", "/v1/policies/nightglass-default:validate"),
                         ("PUT", "/v1/policies/nightglass-default")):
        response = oauth.http.request(method, path, content=body, headers={
            **oauth.bearer(token), "Content-Type": "application/yaml"})
        assert _ok(response), (response.status_code, response.text)


def test_a_nul_in_a_parameter_is_an_invalid_request(oauth: Any) -> None:
    response = oauth.http.get("/oauth/authorize", params={"client_id": "\x00"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
