"""OAuth helpers for the API tests: clients of each kind and their tokens.

``insecure_transport`` lets authlib accept the plain-http test issuer
(``http://rights.test``); it is set here, for these tests only, never by the service.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import TestClient

from casset_rights.auth.clients import NewClient

TOKEN = "/oauth/token"
PARTNER_REDIRECT = "https://tidewater.example/oauth/callback"


@pytest.fixture
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    yield


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OAuth:
    """Makes clients through the service (as the CLI does) and tokens through HTTP."""

    basic = staticmethod(basic)
    bearer = staticmethod(bearer)
    pkce_pair = staticmethod(pkce_pair)
    redirect_uri = PARTNER_REDIRECT

    def __init__(self, client: TestClient, services: Any) -> None:
        self.http = client
        self.services = services

    def create(self, kind: str, **kwargs: Any) -> NewClient:
        name = kwargs.pop("name", f"Test {kind}")
        return self.services.auth.create_client(kind=kind, name=name, **kwargs)

    def agent(self, **kwargs: Any) -> NewClient:
        return self.create("agent", attributes={"operator": "Example Labs",
                                                "purpose": "search"}, **kwargs)

    def partner(self, **kwargs: Any) -> NewClient:
        kwargs.setdefault("redirect_uris", [PARTNER_REDIRECT])
        kwargs.setdefault("name", "Tidewater Radio")
        return self.create("partner", **kwargs)

    def artist(self, artist_id: str = "nightglass", **kwargs: Any) -> NewClient:
        return self.create("artist", artist_id=artist_id, **kwargs)

    def token_response(self, new: NewClient, **form: str) -> Any:
        assert new.secret is not None
        return self.http.post(TOKEN, data={"grant_type": "client_credentials", **form},
                              headers=basic(new.client.client_id, new.secret))

    def token(self, new: NewClient, **form: str) -> str:
        response = self.token_response(new, **form)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def authorize_url(self, partner: NewClient, *, challenge: str, **extra: str) -> dict[str, str]:
        params = {"response_type": "code", "client_id": partner.client.client_id,
                  "redirect_uri": PARTNER_REDIRECT, "scope": "catalog:write policies:write",
                  "state": "s-123", "code_challenge": challenge,
                  "code_challenge_method": "S256"}
        params.update(extra)
        return {k: v for k, v in params.items() if v != ""}

    def consent(self, params: dict[str, str], artist: NewClient, *,
                decision: str = "approve") -> Any:
        assert artist.secret is not None
        form = {**params, "artist_client_id": artist.client.client_id,
                "artist_secret": artist.secret, "decision": decision}
        return self.http.post("/oauth/authorize", data=form, follow_redirects=False)

    def code_for(self, partner: NewClient, artist: NewClient, **extra: str) -> tuple[str, str]:
        """Run the consent step; returns (code, verifier)."""
        verifier, challenge = pkce_pair()
        params = self.authorize_url(partner, challenge=challenge, **extra)
        page = self.http.get("/oauth/authorize", params=params)
        assert page.status_code == 200, page.text
        answer = self.consent(params, artist)
        assert answer.status_code == 302, answer.text
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        assert query["state"] == ["s-123"]
        return query["code"][0], verifier

    def exchange(self, partner: NewClient, code: str, verifier: str | None, **extra: str) -> Any:
        assert partner.secret is not None
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": PARTNER_REDIRECT}
        if verifier is not None:
            form["code_verifier"] = verifier
        form.update(extra)
        return self.http.post(TOKEN, data=form,
                              headers=basic(partner.client.client_id, partner.secret))


@pytest.fixture
def oauth(client: TestClient, services: Any, insecure_transport: None) -> OAuth:
    return OAuth(client, services)


# A real server (``casset-rights serve``, granian) on a free port, for the tests that speak
# to the service from outside: the fuzzer and the generated client.


class LiveServer:
    """A running ``casset-rights serve --demo`` and clients of each kind made in its
    data folder before it started; ``token(kind)`` gets one through its OAuth server."""

    def __init__(self, url: str, clients: dict[str, NewClient]) -> None:
        self.url = url
        self.clients = clients

    def token(self, kind: str) -> str:
        """An access token for the ``agent``, ``partner`` or ``artist`` client: client
        credentials for the agent and the artist; for the partner, the authorization code
        flow with PKCE, the artist approving on the consent page (so the token carries
        the artist's scopes too)."""
        import httpx

        new = self.clients[kind]
        assert new.secret is not None
        auth = (new.client.client_id, new.secret)
        with httpx.Client(base_url=self.url, timeout=30) as http:
            if kind != "partner":
                answer = http.post(TOKEN, data={"grant_type": "client_credentials"}, auth=auth)
            else:
                artist = self.clients["artist"]
                verifier, challenge = pkce_pair()
                params = {"response_type": "code", "client_id": new.client.client_id,
                          "redirect_uri": PARTNER_REDIRECT,
                          "scope": "rights:read licenses:request licenses:manage "
                                   "catalog:write policies:write",
                          "state": "s-1", "code_challenge": challenge,
                          "code_challenge_method": "S256"}
                assert http.get("/oauth/authorize", params=params).status_code == 200
                assert artist.secret is not None
                consent = http.post("/oauth/authorize", data={
                    **params, "decision": "approve",
                    "artist_client_id": artist.client.client_id,
                    "artist_secret": artist.secret})
                assert consent.status_code == 302, consent.text
                code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
                answer = http.post(TOKEN, auth=auth, data={
                    "grant_type": "authorization_code", "code": code,
                    "redirect_uri": PARTNER_REDIRECT, "code_verifier": verifier})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])


@contextmanager
def serving(app: Any, *, port: int = 0) -> Iterator[int]:
    """``app`` served by uvicorn on 127.0.0.1 (``port``, or a free one) in a thread, for
    as long as the block runs; gives the port."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                          ws="none", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service as ``casset-rights serve --demo`` runs it, one worker, on SQLite in a
    fresh data folder, rate limits off (a fuzzer would only meet 429s)."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from casset_rights.config import settings_from_env
    from casset_rights.services import open_services

    port = free_port()
    folder = tmp_path_factory.mktemp("live")
    env = {**os.environ, "CASSET_DATA_DIR": str(folder / "data"), "CASSET_HOST": "127.0.0.1",
           "CASSET_PORT": str(port), "CASSET_WORKERS": "1",
           "CASSET_RATE_LIMITS_ENABLED": "false", "CASSET_REGISTRATION_BURST": "100000",
           "AUTHLIB_INSECURE_TRANSPORT": "1"}
    env.pop("CASSET_DATABASE_URL", None)
    services = open_services(settings_from_env(env))
    try:
        make = services.auth.create_client
        clients = {
            "agent": make(kind="agent", name="Fuzz agent",
                          attributes={"operator": "Example Labs", "purpose": "search"}),
            "partner": make(kind="partner", name="Tidewater Radio",
                            redirect_uris=[PARTNER_REDIRECT]),
            "artist": make(kind="artist", name="Nightglass", artist_id="nightglass"),
        }
    finally:
        services.close()
    cli = os.path.join(os.path.dirname(sys.executable), "casset-rights")
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([cli, "serve", "--demo"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a loaded CI machine starts it slowly
        while True:
            try:
                if httpx.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start:\n"
                                   + (folder / "server.log").read_text(errors="replace"))
            time.sleep(0.3)
        yield LiveServer(url, clients)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
