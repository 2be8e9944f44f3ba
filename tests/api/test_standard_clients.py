"""A client that knows only the standards: RFC 7591 registration with standard metadata
alone, RFC 9728 protected-resource metadata, and refusals of hostile or huge metadata in
RFC 7591's own error form."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_oauth import verify_with_jwks


def test_standard_metadata_alone_registers_an_agent(oauth: Any) -> None:
    response = oauth.http.post("/oauth/register", json={
        "client_name": "Standard Client", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "client_uri": "https://client.example", "logo_uri": "https://client.example/logo.png",
        "tos_uri": "https://client.example/tos", "policy_uri": "https://client.example/privacy",
        "software_id": "standard-client", "software_version": "1.0"})
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["grant_types"] == ["client_credentials"] and info["client_secret"]
    token = oauth.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers=oauth.basic(info["client_id"], info["client_secret"]))
    assert token.status_code == 200, token.text
    claims = verify_with_jwks(oauth, token.json()["access_token"])
    assert claims["casset_kind"] == "agent"
    assert not claims.get("casset_attributes")  # it declared no operator or purpose
    # The token works on the API.
    grid = oauth.http.get("/v1/rights/release:midnight-tapes",
                          headers=oauth.bearer(token.json()["access_token"]))
    assert grid.status_code == 200


def test_a_bare_client_name_is_enough(oauth: Any) -> None:
    response = oauth.http.post("/oauth/register", json={"client_name": "Bare"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("metadata", [
    {"client_name": "x" * 10_000},
    {"client_name": "ok", "contacts": ["a@example.com"] * 11},
    {"client_name": "ok", "redirect_uris": [f"https://ok.example/{i}" for i in range(11)]},
    {"client_name": "ok", "software_id": "y" * 5000},
    {"client_name": "ok", "logo_uri": "http://client.example/logo.png"},
    {"client_name": "ok", "tos_uri": "javascript:alert(1)"},
    {"client_name": "ok", "redirect_uris": ["https://evil.example/cb#frag"]},
    {"client_name": "ok", "redirect_uris": ["https://user@evil.example/cb"]},
    {"client_name": "\u202eevil"},
    {"client_name": "ok", "grant_types": ["authorization_code", "refresh_token"],
     "response_types": ["code"], "token_endpoint_auth_method": "none"},
    # The code grant (as MCP clients register) with hostile redirect URIs.
    *({"client_name": "ok", "grant_types": ["authorization_code"], "response_types": ["code"],
       "token_endpoint_auth_method": "none", "redirect_uris": [uri]} for uri in (
        "http://evil.example/cb", "javascript:alert(1)", "https://*.evil.example/cb",
        "https://evil.example/" + "a" * 3000, "https://evil.example/\u00e9",
        "data:text/html,<script>", "https://evil.example/cb\r\nSet-Cookie: x=1")),
    {"client_name": "ok", "grant_types": ["client_credentials"],
     "token_endpoint_auth_method": "none"},
    {"client_name": "ok", "grant_types": ["authorization_code", "authorization_code"],
     "redirect_uris": ["https://ok.example/cb"]},
])
def test_hostile_or_huge_metadata_is_refused_in_rfc7591_form(oauth: Any,
                                                              metadata: dict[str, Any]) -> None:
    response = oauth.http.post("/oauth/register", json=metadata)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] in ("invalid_client_metadata", "invalid_redirect_uri")
    assert body["error_description"].isascii()


def test_protected_resource_metadata(oauth: Any) -> None:
    issuer = oauth.http.get("/.well-known/oauth-authorization-server").json()["issuer"]
    api = oauth.http.get("/.well-known/oauth-protected-resource").json()
    assert api["resource"] == "http://rights.test/v1"
    assert api["authorization_servers"] == [issuer]
    assert api["bearer_methods_supported"] == ["header"]
    mcp = oauth.http.get("/.well-known/oauth-protected-resource/mcp").json()
    assert mcp["resource"] == "http://rights.test/mcp"
    assert oauth.http.get("/.well-known/oauth-protected-resource/nope").status_code == 404
    server = oauth.http.get("/.well-known/oauth-authorization-server").json()
    assert server["code_challenge_methods_supported"] == ["S256"]  # PKCE, S256 only


def test_an_mcp_style_client_registers_for_the_code_grant(oauth: Any) -> None:
    """What an MCP client sends (RFC 7591, nothing of ours): a public client of the code
    grant. Its errors at the authorization endpoint are never redirected to the URI it
    registered itself (that would make the endpoint an open redirector)."""
    response = oauth.http.post("/oauth/register", json={
        "client_name": "MCP client", "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none", "scope": "rights:read licenses:request"})
    assert response.status_code == 201, response.text
    info = response.json()
    assert "client_secret" not in info and info["token_endpoint_auth_method"] == "none"
    assert info["grant_types"] == ["authorization_code", "refresh_token"]
    assert info["response_types"] == ["code"]
    # A public client cannot take client_credentials.
    refused = oauth.http.post("/oauth/token", data={"grant_type": "client_credentials",
                                                    "client_id": info["client_id"]})
    assert refused.status_code in (400, 401)
    assert refused.json()["error"] in ("unauthorized_client", "invalid_client")
    no_pkce = oauth.http.get("/oauth/authorize", params={
        "response_type": "code", "client_id": info["client_id"], "state": "s",
        "redirect_uri": "http://127.0.0.1:33418/callback", "scope": "rights:read"},
        follow_redirects=False)
    assert no_pkce.status_code == 400 and "location" not in no_pkce.headers
    assert "PKCE" in no_pkce.text
