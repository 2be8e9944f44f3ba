"""The authorization server end to end: metadata, the three client authentications, the
authorization code grant with consent and refresh rotation, introspection, revocation,
registration, and principals reaching the rights engine and the receipts."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from casset_rights.policy import SCOPES as MUSIC_SCOPES

ISSUER = "http://rights.test"
AUDIENCE = "http://rights.test/v1"


def verify_with_jwks(oauth: Any, token: str, audience: str = AUDIENCE) -> dict[str, Any]:
    jwks = oauth.http.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "EdDSA"
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    key = jwt.PyJWK(jwk).key
    return jwt.decode(token, key, algorithms=["EdDSA"], audience=audience, issuer=ISSUER)


def ec_client(oauth: Any, **kwargs: Any) -> tuple[Any, ec.EllipticCurvePrivateKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update(kid="k1", use="sig")
    new = oauth.create(kwargs.pop("kind", "agent"), auth_method="private_key_jwt",
                       jwks={"keys": [jwk]}, **kwargs)
    return new, private


def assertion(client_id: str, private: Any, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/oauth/token",
            "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60, **claims}
    return jwt.encode(body, private, algorithm="ES256", headers={"kid": "k1"})


def test_metadata_names_every_endpoint(oauth: Any) -> None:
    meta = oauth.http.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == ISSUER
    for name, path in [("token_endpoint", "/oauth/token"),
                       ("authorization_endpoint", "/oauth/authorize"),
                       ("introspection_endpoint", "/oauth/introspect"),
                       ("revocation_endpoint", "/oauth/revoke"),
                       ("registration_endpoint", "/oauth/register"),
                       ("jwks_uri", "/.well-known/jwks.json")]:
        assert meta[name] == ISSUER + path
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert set(meta["scopes_supported"]) >= {"rights:read", "licenses:request",
                                            "licenses:manage", "catalog:write",
                                            "policies:write"}


def test_client_credentials_with_basic_gives_an_rfc9068_token(oauth: Any) -> None:
    agent = oauth.agent()
    response = oauth.token_response(agent)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert "refresh_token" not in body
    claims = verify_with_jwks(oauth, body["access_token"])
    assert claims["sub"] == claims["client_id"] == agent.client.client_id
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]
    assert set(claims["scope"].split()) == {"rights:read", "licenses:request",
                                            "licenses:manage"}
    assert claims["casset_kind"] == "agent"
    assert claims["casset_attributes"] == {"operator": "Example Labs", "purpose": "search"}


def test_client_secret_post_and_a_narrower_scope(oauth: Any) -> None:
    partner = oauth.partner()
    response = oauth.http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": partner.client.client_id,
        "client_secret": partner.secret, "scope": "rights:read"})
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "rights:read"


def test_a_machine_client_cannot_take_artist_scopes(oauth: Any) -> None:
    response = oauth.token_response(oauth.partner(), scope="catalog:write")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    unknown = oauth.token_response(oauth.agent(), scope="admin")
    assert unknown.json()["error"] == "invalid_scope"


def test_private_key_jwt(oauth: Any) -> None:
    new, private = ec_client(oauth)
    client_id = new.client.client_id
    response = oauth.http.post("/oauth/token", data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(client_id, private)})
    assert response.status_code == 200, response.text
    assert verify_with_jwks(oauth, response.json()["access_token"])["client_id"] == client_id
    # A private_key_jwt client has no secret to fall back on.
    assert new.secret is None
    basic = oauth.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers=oauth.basic(client_id, "anything"))
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"


def test_the_principal_reaches_the_receipt(oauth: Any) -> None:
    agent = oauth.agent()
    token = oauth.token(agent)
    answer = oauth.http.post("/v1/decisions", headers=oauth.bearer(token), json={
        "action": "reference", "resource": "release:midnight-tapes"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["ratelimit-policy"]
    stored = oauth.http.get(f"/v1/receipts/{answer.json()['receipt_id']}").json()
    assert stored["payload"]["principal"] == {
        "kind": "agent", "client_id": agent.client.client_id,
        "attributes": {"operator": "Example Labs", "purpose": "search"}}
    public = oauth.http.post("/v1/decisions", json={
        "action": "reference", "resource": "release:midnight-tapes"}).json()
    stored = oauth.http.get(f"/v1/receipts/{public['receipt_id']}").json()
    assert stored["payload"]["principal"] == {"kind": "public"}


def test_policies_match_a_named_client(oauth: Any) -> None:
    """The Ferrymen's policy gives tidewater-radio a standing agreement for sync."""
    tidewater = oauth.token(oauth.partner(client_id="tidewater-radio"))
    other = oauth.token(oauth.partner(client_id="harbour-fm", name="Harbour FM"))
    ask = {"action": "sync", "resource": "release:river-engine"}
    named = oauth.http.post("/v1/decisions", headers=oauth.bearer(tidewater), json=ask).json()
    plain = oauth.http.post("/v1/decisions", headers=oauth.bearer(other), json=ask).json()
    assert "tidewater-standing-agreement" in [r["rule"] for r in named["reasons"]]
    assert "tidewater-standing-agreement" not in [r["rule"] for r in plain["reasons"]]


def test_policies_match_verified_attributes(oauth: Any) -> None:
    services = oauth.services
    head = oauth.http.get("/v1/releases/low-orbit").json()
    artist, track = head["artist"], head["manifest"]["tracks"][0]["id"]
    services.policies.put(f"""
policy: low-orbit-track-for-search
artist: {artist}
applies_to: track:low-orbit/{track}
rules:
  - id: search-agents-may-listen
    permit: [listen]
    to: [{{kind: agent, attributes: {{purpose: search}}}}]
""", source_name="test.yaml")
    services.index.refresh(force=True)
    search = oauth.token(oauth.agent())
    training = oauth.token(oauth.create("agent", attributes={"operator": "X",
                                                             "purpose": "training"}))
    ask = {"action": "listen", "resource": f"track:low-orbit/{track}"}
    assert oauth.http.post("/v1/decisions", headers=oauth.bearer(search),
                           json=ask).json()["decision"] == "permit"
    assert oauth.http.post("/v1/decisions", headers=oauth.bearer(training),
                           json=ask).json()["decision"] != "permit"


def test_authorization_code_with_consent_and_refresh_rotation(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist("nightglass")
    verifier, challenge = oauth.pkce_pair()
    params = oauth.authorize_url(partner, challenge=challenge)
    page = oauth.http.get("/oauth/authorize", params=params)
    assert page.status_code == 200
    assert "Tidewater Radio" in page.text and "catalog:write" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    answer = oauth.consent(params, artist)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(oauth.redirect_uri + "?")
    code = parse_qs(urlsplit(location).query)["code"][0]
    tokens = oauth.exchange(partner, code, verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    claims = verify_with_jwks(oauth, body["access_token"])
    assert claims["sub"] == "nightglass" and claims["casset_kind"] == "artist"
    assert claims["client_id"] == partner.client.client_id
    assert claims["scope"] == "catalog:write policies:write"
    # Rotation: the refresh token is good once and comes back new.
    refreshed = oauth.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=oauth.basic(partner.client.client_id, partner.secret))
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["refresh_token"] != body["refresh_token"]
    narrower = oauth.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": second["refresh_token"],
        "scope": "policies:write"},
        headers=oauth.basic(partner.client.client_id, partner.secret))
    assert narrower.json()["scope"] == "policies:write"


def test_the_artist_can_refuse(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist()
    _, challenge = oauth.pkce_pair()
    params = oauth.authorize_url(partner, challenge=challenge)
    answer = oauth.consent(params, artist, decision="deny")
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s-123"]


def test_a_wrong_artist_secret_asks_again(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist()
    _, challenge = oauth.pkce_pair()
    params = oauth.authorize_url(partner, challenge=challenge)
    form = {**params, "artist_client_id": artist.client.client_id,
            "artist_secret": "not-it", "decision": "approve"}
    answer = oauth.http.post("/oauth/authorize", data=form, follow_redirects=False)
    assert answer.status_code == 403 and "location" not in answer.headers
    assert "not right" in answer.text
    # An agent's credentials do not sign an artist in.
    agent = oauth.agent()
    form.update(artist_client_id=agent.client.client_id, artist_secret=agent.secret)
    assert oauth.http.post("/oauth/authorize", data=form,
                           follow_redirects=False).status_code == 403


def test_agents_and_artists_cannot_use_the_authorization_code_grant(oauth: Any) -> None:
    agent = oauth.agent()
    _, challenge = oauth.pkce_pair()
    params = {"response_type": "code", "client_id": agent.client.client_id,
              "redirect_uri": oauth.redirect_uri, "code_challenge": challenge,
              "code_challenge_method": "S256"}
    page = oauth.http.get("/oauth/authorize", params=params, follow_redirects=False)
    assert page.status_code == 400 and "location" not in page.headers
    # Not even when the agent registered that redirect URI itself: the authorization
    # endpoint is no open redirector.
    registered = oauth.http.post("/oauth/register", json={
        "client_name": "A", "operator": "Op", "purpose": "search",
        "redirect_uris": ["https://evil.example/cb"]}).json()
    params.update(client_id=registered["client_id"], redirect_uri="https://evil.example/cb")
    page = oauth.http.get("/oauth/authorize", params=params, follow_redirects=False)
    assert page.status_code == 400 and "location" not in page.headers
    assert "unauthorized_client" in page.text


def test_introspection(oauth: Any) -> None:
    agent, other = oauth.agent(), oauth.agent()
    token = oauth.token(agent)
    own = oauth.http.post("/oauth/introspect", data={"token": token},
                          headers=oauth.basic(agent.client.client_id, agent.secret)).json()
    assert own["active"] is True and own["client_id"] == agent.client.client_id
    assert own["aud"] == AUDIENCE and own["iss"] == ISSUER and own["token_type"] == "Bearer"
    theirs = oauth.http.post("/oauth/introspect", data={"token": token},
                             headers=oauth.basic(other.client.client_id, other.secret)).json()
    assert theirs == {"active": False}
    junk = oauth.http.post("/oauth/introspect", data={"token": "junk.junk.junk"},
                           headers=oauth.basic(agent.client.client_id, agent.secret)).json()
    assert junk == {"active": False}
    anonymous = oauth.http.post("/oauth/introspect", data={"token": token})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"


def test_revoking_an_access_token(oauth: Any) -> None:
    agent = oauth.agent()
    token = oauth.token(agent)
    assert oauth.http.get("/v1/releases", headers=oauth.bearer(token)).status_code == 200
    revoked = oauth.http.post("/oauth/revoke", data={"token": token},
                              headers=oauth.basic(agent.client.client_id, agent.secret))
    assert revoked.status_code == 200
    after = oauth.http.get("/v1/releases", headers=oauth.bearer(token))
    assert after.status_code == 401 and after.json()["code"] == "invalid_token"
    assert "revoked" in after.json()["detail"]
    introspected = oauth.http.post("/oauth/introspect", data={"token": token},
                                   headers=oauth.basic(agent.client.client_id, agent.secret))
    assert introspected.json() == {"active": False}


def test_revoking_a_refresh_token_revokes_the_grant(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist()
    code, verifier = oauth.code_for(partner, artist)
    body = oauth.exchange(partner, code, verifier).json()
    creds = oauth.basic(partner.client.client_id, partner.secret)
    assert oauth.http.post("/oauth/revoke", data={
        "token": body["refresh_token"], "token_type_hint": "refresh_token"},
        headers=creds).status_code == 200
    used = oauth.http.get("/v1/releases", headers=oauth.bearer(body["access_token"]))
    assert used.status_code == 401 and used.json()["code"] == "invalid_token"
    again = oauth.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, headers=creds)
    assert again.json()["error"] == "invalid_grant"


def test_disabling_a_client_revokes_its_tokens(oauth: Any) -> None:
    agent = oauth.agent()
    token = oauth.token(agent)
    oauth.services.auth.disable_client(agent.client.client_id)
    assert oauth.http.get("/v1/releases", headers=oauth.bearer(token)).status_code == 401
    assert oauth.token_response(agent).json()["error"] == "invalid_client"


def test_registration_of_an_agent(oauth: Any) -> None:
    response = oauth.http.post("/oauth/register", json={
        "client_name": "Lyric Finder", "operator": "Example Labs", "purpose": "search",
        "contacts": ["ops@example.com"]})
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["client_secret"] and info["token_endpoint_auth_method"] == "client_secret_basic"
    assert info["grant_types"] == ["client_credentials"]
    token = oauth.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers=oauth.basic(info["client_id"], info["client_secret"]))
    claims = verify_with_jwks(oauth, token.json()["access_token"])
    assert claims["casset_kind"] == "agent"
    assert claims["casset_attributes"] == {"operator": "Example Labs", "purpose": "search"}


@pytest.mark.parametrize("metadata, error", [
    ({"client_name": "x", "operator": "y", "purpose": "search",
      "grant_types": ["authorization_code"]}, "invalid_redirect_uri"),
    ({"client_name": "x", "grant_types": ["implicit"], "response_types": ["token"],
      "redirect_uris": ["https://agent.example/cb"]}, "invalid_client_metadata"),
    ({"client_name": "x", "grant_types": ["authorization_code"], "response_types": ["token"],
      "redirect_uris": ["https://agent.example/cb"]}, "invalid_client_metadata"),
    ({"client_name": "x", "grant_types": ["authorization_code", "client_credentials"],
      "redirect_uris": ["https://agent.example/cb"]}, "invalid_client_metadata"),
    ({"client_name": "x", "operator": "y", "purpose": "Search Things"},
     "invalid_client_metadata"),
    ({"client_name": "x", "purpose": "not a slug"}, "invalid_client_metadata"),
    ({"client_name": "x", "operator": "y", "purpose": "search", "scope": "catalog:write"},
     "invalid_client_metadata"),
    ({"client_name": "x", "operator": "y", "purpose": "search",
      "jwks_uri": "https://evil.example/jwks"}, "invalid_client_metadata"),
    ({"client_name": "x", "operator": "y", "purpose": "search",
      "token_endpoint_auth_method": "none"}, "invalid_client_metadata"),
    ([1, 2], "invalid_client_metadata"),
])
def test_registration_refuses_bad_metadata(oauth: Any, metadata: Any, error: str) -> None:
    response = oauth.http.post("/oauth/register", json=metadata)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_every_music_scope_is_distinct_from_the_oauth_scopes(oauth: Any) -> None:
    meta = oauth.http.get("/.well-known/oauth-authorization-server").json()
    assert not set(meta["scopes_supported"]) & set(MUSIC_SCOPES)


def test_a_code_buys_tokens_for_the_resource_it_was_authorized_for(oauth: Any) -> None:
    """RFC 8707: a code authorized for the MCP endpoint is redeemed for it alone; a token
    request without a resource gets that audience, one naming the API is refused."""
    from casset_rights.auth.service import resource_audiences

    api, mcp = resource_audiences(oauth.services.settings)
    partner, artist = oauth.partner(), oauth.artist("nightglass")
    code, verifier = oauth.code_for(partner, artist, resource=mcp)
    refused = oauth.exchange(partner, code, verifier, resource=api)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"
    code, verifier = oauth.code_for(partner, artist, resource=mcp)
    tokens = oauth.exchange(partner, code, verifier)
    assert tokens.status_code == 200, tokens.text
    assert verify_with_jwks(oauth, tokens.json()["access_token"], mcp)["aud"] == mcp
    code, verifier = oauth.code_for(partner, artist)  # no resource: the API's
    tokens = oauth.exchange(partner, code, verifier)
    assert verify_with_jwks(oauth, tokens.json()["access_token"], api)["aud"] == api
