"""MCP authorization as the MCP specification asks, driven by the ``mcp`` package's own
``OAuthClientProvider`` over Streamable HTTP: the 401 names the protected-resource
metadata (RFC 9728), the client finds the authorization server, registers itself with
standard metadata alone (RFC 7591: the code grant, a public client), sends the artist
through the consent page with PKCE S256 and ``resource`` (RFC 8707), and calls tools with
a token issued for ``/mcp`` only. The artist's consent is given as a browser would: the
consent page is read and its form posted with the artist's sign-in."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import msgspec
import pytest
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from casset_rights.app import create_app
from tests.api.conftest import free_port, serving

REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the test reads the 302
HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, port: int):  # type: ignore[no-untyped-def]
    """The service's issuer is the address it is served at, as in production."""
    from casset_rights.config import settings_from_env

    return settings_from_env({}, data_dir=tmp_path / "data", load_examples=True,
                             issuer=f"http://127.0.0.1:{port}")


@pytest.fixture
def base(settings: Any, services: Any, port: int, insecure_transport: None) -> Iterator[str]:
    app = create_app(msgspec.structs.replace(settings, load_examples=False), services=services)
    with serving(app, port=port):
        yield f"http://127.0.0.1:{port}"


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class ArtistAtTheBrowser:
    """The two human moments of the flow: the artist reads the consent page the client
    sent them to and approves it with their sign-in; the redirect back carries the code."""

    def __init__(self, artist_id: str, secret: str) -> None:
        self.artist_id, self.secret = artist_id, secret
        self.page = ""
        self.callback: dict[str, list[str]] = {}

    async def redirect_handler(self, authorization_url: str) -> None:
        async with httpx2.AsyncClient(timeout=30) as browser:
            page = await browser.get(authorization_url)
            assert page.status_code == 200, page.text
            self.page = page.text
            form = {html.unescape(k): html.unescape(v) for k, v in HIDDEN.findall(page.text)}
            action = html.unescape(re.search(r'<form method="post" action="([^"]*)"',
                                             page.text).group(1))  # type: ignore[union-attr]
            answer = await browser.post(
                str(httpx2.URL(authorization_url).join(action)),
                data={**form, "decision": "approve", "artist_client_id": self.artist_id,
                      "artist_secret": self.secret})
            assert answer.status_code == 302, answer.text
            location = answer.headers["location"]
            assert location.startswith(REDIRECT_URI + "?")
            self.callback = parse_qs(urlsplit(location).query)

    async def callback_handler(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=self.callback["code"][0],
                                       state=self.callback.get("state", [None])[0],
                                       iss=self.callback.get("iss", [None])[0])


def test_a_standard_mcp_client_authorizes_through_an_artist(base: str, services: Any) -> None:
    artist = services.auth.create_client(kind="artist", name="Nightglass",
                                         artist_id="nightglass")
    assert artist.secret is not None
    browser = ArtistAtTheBrowser(artist.client.client_id, artist.secret)
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=f"{base}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="A standard MCP client", redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"], response_types=["code"],
            token_endpoint_auth_method="none"),
        storage=storage, redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler)

    async def session() -> None:
        async with httpx2.AsyncClient(auth=provider, timeout=30) as http, \
                Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
            grid = await client.call_tool("rights_grid", {"resource": "release:midnight-tapes"})
            assert not grid.is_error, grid.content
            assert grid.structured_content["audience"] == "artist"
    anyio.run(session)

    # It registered itself (RFC 7591, standard metadata alone) as a public client.
    assert storage.client is not None and storage.client.client_id.startswith("agent-")
    assert storage.client.client_secret is None
    assert "A standard MCP client" in browser.page  # the artist saw who asks
    assert storage.tokens is not None and storage.tokens.refresh_token
    token = storage.tokens.access_token
    # The token was issued for /mcp (RFC 8707): the API refuses it.
    claims = msgspec.json.decode(_b64(token.split(".")[1]))
    assert claims["aud"] == f"{base}/mcp" and claims["sub"] == "nightglass"
    api = httpx2.get(f"{base}/v1/rights/release:midnight-tapes",
                     headers={"authorization": f"Bearer {token}"})
    assert api.status_code == 401
    assert "another audience" in api.json()["detail"]


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_mcp_without_a_token_names_its_resource_metadata(base: str) -> None:
    call = {"accept": "application/json, text/event-stream",
            "content-type": "application/json"}
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    bare = httpx2.post(f"{base}/mcp", headers=call, content=body)
    assert bare.status_code == 401
    challenge = bare.headers["www-authenticate"]
    metadata_url = f"{base}/.well-known/oauth-protected-resource/mcp"
    assert challenge == f'Bearer resource_metadata="{metadata_url}"'
    assert bare.headers["content-type"].startswith("application/problem+json")
    metadata = httpx2.get(metadata_url).json()
    assert metadata["resource"] == f"{base}/mcp"
    assert metadata["authorization_servers"] == [base]
    server = httpx2.get(f"{base}/.well-known/oauth-authorization-server").json()
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert "none" in server["token_endpoint_auth_methods_supported"]
    wrong = httpx2.post(f"{base}/mcp", headers={**call, "authorization": "Bearer x.y.z"},
                        content=body)
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith('Bearer error="invalid_token", '
                                                       f'resource_metadata="{metadata_url}"')


def test_an_api_token_is_not_an_mcp_token(base: str, services: Any) -> None:
    agent = services.auth.create_client(kind="agent", name="Agent")
    assert agent.secret is not None
    auth = (agent.client.client_id, agent.secret)
    api_token = httpx2.post(f"{base}/oauth/token", auth=auth,
                            data={"grant_type": "client_credentials"}).json()["access_token"]
    call = {"accept": "application/json, text/event-stream",
            "content-type": "application/json", "authorization": f"Bearer {api_token}"}
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    refused = httpx2.post(f"{base}/mcp", headers=call, content=body)
    assert refused.status_code == 401
    assert "another audience" in refused.json()["detail"]
    mcp_token = httpx2.post(f"{base}/oauth/token", auth=auth, data={
        "grant_type": "client_credentials", "resource": f"{base}/mcp"}).json()["access_token"]
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "plain", "version": "1"}}}
    answer = httpx2.post(f"{base}/mcp", headers={**call, "authorization": f"Bearer {mcp_token}"},
                         json=initialize)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["serverInfo"]
    described = httpx2.post(f"{base}/oauth/introspect", auth=auth,
                            data={"token": mcp_token}).json()
    assert described["active"] and described["aud"] == f"{base}/mcp"  # RFC 7662
    other = httpx2.post(f"{base}/oauth/token", auth=auth, data={
        "grant_type": "client_credentials", "resource": "https://elsewhere.example/api"})
    assert other.status_code == 400 and other.json()["error"] == "invalid_target"
