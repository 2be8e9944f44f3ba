"""The security list of issue 3: each attack is refused with the exact OAuth error or
problem code, and none yields a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm
from sqlalchemy import select

from casset_rights.api.security import SCOPE_OPT
from casset_rights.auth import credentials
from casset_rights.auth.tables import oauth_clients

ISSUER = "http://rights.test"
AUDIENCE = "http://rights.test/v1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"iss": ISSUER, "sub": "agent-x", "aud": AUDIENCE, "client_id": "agent-x",
            "scope": "rights:read", "jti": uuid.uuid4().hex, "iat": now, "exp": now + 600,
            "casset_kind": "agent"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def signed(oauth: Any, body: dict[str, Any], **headers: Any) -> str:
    key = oauth.services.keys.active()
    header = {"typ": "at+jwt", "kid": key.kid, **headers}
    return jwt.encode(body, key.private_key, algorithm="EdDSA", headers=header)


def refused(oauth: Any, token: str) -> dict[str, Any]:
    response = oauth.http.get("/v1/releases", headers=oauth.bearer(token))
    assert response.status_code == 401, response.text
    problem = response.json()
    assert problem["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")
    return problem  # type: ignore[no-any-return]


# -- forged and stale access tokens --------------------------------------------------------


def test_a_well_formed_token_is_accepted(oauth: Any) -> None:
    """The control for the forgeries below: the same claims, properly signed, pass."""
    token = signed(oauth, claims())
    assert oauth.http.get("/v1/releases", headers=oauth.bearer(token)).status_code == 200


def test_alg_none(oauth: Any) -> None:
    header = b64url(b'{"alg":"none","typ":"at+jwt"}')
    payload = b64url(jwt.api_jws.json.dumps(claims()).encode())
    assert "EdDSA" in refused(oauth, f"{header}.{payload}.")["detail"]


def test_hs256_signed_with_the_public_key(oauth: Any) -> None:
    key = oauth.services.keys.active()
    public_pem = key.public_key.public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = key.public_key.public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
    for secret in (public_pem, raw, b64url(raw).encode()):
        header = b64url(jwt.api_jws.json.dumps(
            {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}).encode())
        payload = b64url(jwt.api_jws.json.dumps(claims()).encode())
        signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        refused(oauth, f"{header}.{payload}.{b64url(signature)}")


def test_expired(oauth: Any) -> None:
    now = int(time.time())
    problem = refused(oauth, signed(oauth, claims(iat=now - 3600, exp=now - 120)))
    assert "expired" in problem["detail"]


def test_within_the_leeway_is_still_valid(oauth: Any) -> None:
    now = int(time.time())
    token = signed(oauth, claims(iat=now - 900, exp=now - 5))
    assert oauth.http.get("/v1/releases", headers=oauth.bearer(token)).status_code == 200


def test_not_yet_valid(oauth: Any) -> None:
    now = int(time.time())
    assert "not valid yet" in refused(oauth, signed(oauth, claims(nbf=now + 600)))["detail"]
    assert "not valid yet" in refused(oauth, signed(oauth, claims(iat=now + 600,
                                                                  exp=now + 1200)))["detail"]


def test_wrong_audience(oauth: Any) -> None:
    for aud in ("https://elsewhere.example/v1", ISSUER, [AUDIENCE, "https://x.example"]):
        assert "audience" in refused(oauth, signed(oauth, claims(aud=aud)))["detail"]
    assert "aud" in refused(oauth, signed(oauth, claims(aud=None)))["detail"]


def test_wrong_issuer(oauth: Any) -> None:
    problem = refused(oauth, signed(oauth, claims(iss="https://evil.example")))
    assert "issuer" in problem["detail"]


def test_missing_claims(oauth: Any) -> None:
    for name in ("jti", "client_id", "scope", "exp", "sub"):
        refused(oauth, signed(oauth, claims(**{name: None})))
    refused(oauth, signed(oauth, claims(casset_kind="admin")))
    refused(oauth, signed(oauth, claims(casset_kind="public")))


def test_another_key_another_typ_and_an_unknown_kid(oauth: Any) -> None:
    key = oauth.services.keys.active()
    stranger = Ed25519PrivateKey.generate()
    forged = jwt.encode(claims(), stranger, algorithm="EdDSA",
                        headers={"typ": "at+jwt", "kid": key.kid})
    assert "signature" in refused(oauth, forged)["detail"]
    unknown = jwt.encode(claims(), stranger, algorithm="EdDSA",
                         headers={"typ": "at+jwt", "kid": "nope"})
    assert "unknown key" in refused(oauth, unknown)["detail"]
    assert "typ" in refused(oauth, signed(oauth, claims(), typ="JWT"))["detail"]


def test_a_receipt_is_not_an_access_token(oauth: Any) -> None:
    """Receipts are signed with the same key; their typ keeps them out."""
    receipt = oauth.http.post("/v1/decisions", json={
        "action": "reference", "resource": "release:midnight-tapes"}).json()["receipt"]
    assert "typ" in refused(oauth, receipt)["detail"]


def test_malformed_authorization_headers(oauth: Any) -> None:
    for value in ("Bearer", "Bearer ", "Bearer a b", "Bearer not-a-jwt", "bearer x.y.z",
                  "Bearer " + "a" * 9000):
        response = oauth.http.get("/v1/releases", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.json()["code"] == "invalid_token"


def test_a_revoked_token(oauth: Any) -> None:
    agent = oauth.agent()
    token = oauth.token(agent)
    assert oauth.http.get("/v1/releases", headers=oauth.bearer(token)).status_code == 200
    oauth.http.post("/oauth/revoke", data={"token": token},
                    headers=oauth.basic(agent.client.client_id, agent.secret))
    assert "revoked" in refused(oauth, token)["detail"]


# -- one client's tokens, codes and credentials used by another ----------------------------


def test_a_token_from_another_client_on_its_resources(oauth: Any) -> None:
    owner, thief = oauth.agent(), oauth.agent()
    token = oauth.token(owner)
    thief_creds = oauth.basic(thief.client.client_id, thief.secret)
    revoke = oauth.http.post("/oauth/revoke", data={"token": token}, headers=thief_creds)
    assert revoke.status_code == 400 and revoke.json()["error"] == "invalid_grant"
    introspect = oauth.http.post("/oauth/introspect", data={"token": token},
                                 headers=thief_creds)
    assert introspect.json() == {"active": False}
    # The owner's token is untouched by either attempt.
    assert oauth.http.get("/v1/releases", headers=oauth.bearer(token)).status_code == 200


def test_another_clients_code_and_refresh_token(oauth: Any) -> None:
    partner, rival, artist = oauth.partner(), oauth.partner(client_id="rival-fm"), \
        oauth.artist()
    code, verifier = oauth.code_for(partner, artist)
    stolen = oauth.exchange(rival, code, verifier)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    body = oauth.exchange(partner, code, verifier).json()  # the right client still can
    refresh = oauth.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=oauth.basic(rival.client.client_id, rival.secret))
    assert refresh.json()["error"] == "invalid_grant"
    principal = oauth.services.auth.authenticate(body["access_token"])
    assert principal.kind == "artist" and principal.client_id == partner.client.client_id


def test_a_token_without_the_routes_scope(oauth: Any) -> None:
    agent = oauth.agent()
    token = oauth.token(agent, scope="licenses:request")
    response = oauth.http.get("/v1/releases", headers=oauth.bearer(token))
    assert response.status_code == 403
    problem = response.json()
    assert problem["code"] == "insufficient_scope" and "rights:read" in problem["detail"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


# -- the authorization code grant ----------------------------------------------------------


def test_a_reused_code_revokes_what_it_gave(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist()
    code, verifier = oauth.code_for(partner, artist)
    first = oauth.exchange(partner, code, verifier).json()
    again = oauth.exchange(partner, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    refused(oauth, first["access_token"])
    refresh = oauth.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=oauth.basic(partner.client.client_id, partner.secret))
    assert refresh.json()["error"] == "invalid_grant"


def test_a_reused_refresh_token_revokes_the_grant(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist()
    code, verifier = oauth.code_for(partner, artist)
    first = oauth.exchange(partner, code, verifier).json()
    creds = oauth.basic(partner.client.client_id, partner.secret)
    second = oauth.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=creds).json()
    replay = oauth.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=creds)
    assert replay.json()["error"] == "invalid_grant"
    refused(oauth, second["access_token"])
    after = oauth.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
        headers=creds)
    assert after.json()["error"] == "invalid_grant"


def _authorize_error(oauth: Any, params: dict[str, str]) -> dict[str, list[str]]:
    response = oauth.http.get("/oauth/authorize", params=params, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(oauth.redirect_uri + "?")
    return parse_qs(urlsplit(location).query)


def test_pkce_missing_or_plain_at_the_authorization_endpoint(oauth: Any) -> None:
    partner = oauth.partner()
    _, challenge = oauth.pkce_pair()
    missing = oauth.authorize_url(partner, challenge="", code_challenge_method="")
    assert _authorize_error(oauth, missing)["error"] == ["invalid_request"]
    plain = oauth.authorize_url(partner, challenge=challenge, code_challenge_method="plain")
    query = _authorize_error(oauth, plain)
    assert query["error"] == ["invalid_request"] and query["state"] == ["s-123"]
    no_method = oauth.authorize_url(partner, challenge=challenge, code_challenge_method="")
    assert _authorize_error(oauth, no_method)["error"] == ["invalid_request"]


def test_pkce_wrong_or_missing_verifier(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist()
    code, verifier = oauth.code_for(partner, artist)
    wrong = oauth.exchange(partner, code, oauth.pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code, _ = oauth.code_for(partner, artist)
    missing = oauth.exchange(partner, code, None)
    assert missing.json()["error"] == "invalid_request"
    # A failed attempt spends the code: the right verifier no longer helps.
    code, verifier = oauth.code_for(partner, artist)
    oauth.exchange(partner, code, "x" * 50)
    assert oauth.exchange(partner, code, verifier).json()["error"] == "invalid_grant"


def test_a_redirect_uri_one_character_off(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist()
    _, challenge = oauth.pkce_pair()
    for uri in (oauth.redirect_uri + "x", oauth.redirect_uri[:-1],
                oauth.redirect_uri.replace("https", "http"),
                oauth.redirect_uri.upper(), oauth.redirect_uri + "/"):
        params = oauth.authorize_url(partner, challenge=challenge, redirect_uri=uri)
        page = oauth.http.get("/oauth/authorize", params=params, follow_redirects=False)
        assert page.status_code == 400 and "location" not in page.headers
        assert "invalid_request" in page.text
        posted = oauth.consent(params, artist)
        assert posted.status_code == 400 and "location" not in posted.headers
    code, verifier = oauth.code_for(partner, artist)
    swapped = oauth.exchange(partner, code, verifier, redirect_uri=oauth.redirect_uri + "x")
    assert swapped.json()["error"] == "invalid_grant"


def test_authorization_requests_with_odd_characters(oauth: Any) -> None:
    partner = oauth.partner()
    for params in ({"response_type": 'co"de', "client_id": partner.client.client_id},
                   {"response_type": "code", "client_id": 'x"\\'},
                   {"response_type": "code", "client_id": partner.client.client_id,
                    "redirect_uri": 'https://tidewater.example/"\u00e9'},
                   {"response_type": "code"}, {}):
        response = oauth.http.get("/oauth/authorize", params=params, follow_redirects=False)
        assert response.status_code == 400, (params, response.text)


# -- client authentication -----------------------------------------------------------------


def test_a_replayed_client_assertion(oauth: Any) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"kid": "k1"}
    new = oauth.create("agent", auth_method="private_key_jwt", jwks={"keys": [jwk]})
    client_id = new.client.client_id
    now = int(time.time())
    token = jwt.encode({"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/oauth/token",
                        "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60},
                       private, algorithm="ES256", headers={"kid": "k1"})
    form = {"grant_type": "client_credentials", "client_assertion": token,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    assert oauth.http.post("/oauth/token", data=form).status_code == 200
    replay = oauth.http.post("/oauth/token", data=form)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_client"
    assert "used before" in replay.json()["error_description"]


@pytest.mark.parametrize("change", ["hs256-with-public-key", "long-lived", "wrong-aud",
                                    "iss-not-client", "expired", "no-jti", "alg-none"])
def test_bad_client_assertions(oauth: Any, change: str) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"kid": "k1"}
    client_id = oauth.create("agent", auth_method="private_key_jwt",
                             jwks={"keys": [jwk]}).client.client_id
    now = int(time.time())
    body: dict[str, Any] = {"iss": client_id, "sub": client_id,
                            "aud": f"{ISSUER}/oauth/token", "jti": uuid.uuid4().hex,
                            "iat": now, "exp": now + 60}
    key: Any = private
    alg = "ES256"
    if change == "long-lived":
        body["exp"] = now + 3600
    elif change == "wrong-aud":
        body["aud"] = "https://other.example/token"
    elif change == "iss-not-client":
        body["iss"] = "someone-else"
    elif change == "expired":
        body.update(iat=now - 600, exp=now - 300)
    elif change == "no-jti":
        del body["jti"]
    if change == "hs256-with-public-key":
        secret = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        header = b64url(jwt.api_jws.json.dumps({"alg": "HS256", "kid": "k1"}).encode())
        payload = b64url(jwt.api_jws.json.dumps(body).encode())
        sig = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        token = f"{header}.{payload}.{b64url(sig)}"
    elif change == "alg-none":
        header = b64url(b'{"alg":"none","kid":"k1"}')
        token = f"{header}.{b64url(jwt.api_jws.json.dumps(body).encode())}."
    else:
        token = jwt.encode(body, key, algorithm=alg, headers={"kid": "k1"})
    response = oauth.http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion": token,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == "invalid_client"


def test_secrets_are_stored_hashed(oauth: Any) -> None:
    partner = oauth.partner()
    with oauth.services.engine.connect() as conn:
        stored = conn.execute(select(oauth_clients.c.secret_hash).where(
            oauth_clients.c.client_id == partner.client.client_id)).scalar_one()
    assert partner.secret and partner.secret not in stored
    scheme, salt, digest = stored.split("$")
    assert scheme == "sha256" and len(salt) == 32 and len(digest) == 64
    expected = hashlib.sha256(bytes.fromhex(salt) + partner.secret.encode()).hexdigest()
    assert digest == expected


def test_secrets_are_compared_in_constant_time(oauth: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    partner = oauth.partner()
    assert partner.secret is not None
    calls: list[tuple[str, str]] = []
    compare = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(credentials.hmac, "compare_digest", spy)
    near_miss = partner.secret[:-1] + ("A" if partner.secret[-1] != "A" else "B")
    for secret, status in ((near_miss, 401), ("", 401), (partner.secret, 200)):
        response = oauth.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                   headers=oauth.basic(partner.client.client_id, secret))
        assert response.status_code == status
        if status == 401:
            assert response.json()["error"] == "invalid_client"
    # Digests, never the secret itself, went through the constant-time comparison.
    assert calls and all(len(a) == len(b) == 64 and partner.secret not in (a, b)
                         for a, b in calls)


@pytest.mark.parametrize("uri", [
    "javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd",
    "http://evil.example/cb", "https://evil.example/cb#frag",
    "https://user:pw@evil.example/cb", "https://*.evil.example/cb",
    "https://evil.example/cb?x=\"<script>", "//evil.example/cb", "/relative",
    "https://évil.example/cb", "https://evil.example:99999/cb", "https:///cb", "",
    "https://evil.example/ cb", "HTTPS://evil.example@good.example/",
])
def test_registration_with_a_malicious_redirect_uri(oauth: Any, uri: str) -> None:
    response = oauth.http.post("/oauth/register", json={
        "client_name": "Agent", "operator": "Op", "purpose": "search",
        "redirect_uris": ["https://ok.example/cb", uri]})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_redirect_uri"


def test_a_loopback_redirect_is_allowed(oauth: Any) -> None:
    response = oauth.http.post("/oauth/register", json={
        "client_name": "Agent", "operator": "Op", "purpose": "search",
        "redirect_uris": ["http://127.0.0.1:8765/cb", "https://ok.example/cb"]})
    assert response.status_code == 201, response.text


def test_every_api_route_declares_its_scope(client: Any) -> None:
    """Routes outside OAuth, discovery (``/`` and ``/.well-known``) and the OpenAPI schema
    name the scope they need."""
    missing = []
    for route in client.app.routes:
        if route.path == "/" or route.path.startswith(("/oauth", "/.well-known", "/schema")):
            continue
        for handler in getattr(route, "route_handlers", []):
            if "OPTIONS" in handler.http_methods and len(handler.http_methods) == 1:
                continue
            if not handler.opt.get(SCOPE_OPT):
                missing.append(f"{sorted(handler.http_methods)} {route.path}")
    assert missing == []
