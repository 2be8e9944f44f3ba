"""OAuth helpers for the API tests: clients of each kind and their tokens.

``insecure_transport`` lets authlib accept the plain-http test issuer
(``http://rights.test``); it is set here, for these tests only, never by the service.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
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
