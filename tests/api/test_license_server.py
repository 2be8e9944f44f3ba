"""RSL's license server (Open License Protocol) and protected content: an agent that
knows only RSL finds the license in rsl.xml, gets a License token at the server the RSL
document names, and presents it with ``Authorization: License``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from casset_rights.agents import rsl

BASE = "http://rights.test"
LYRIC = "/v1/lyrics/midnight-tapes/1/chorus"
RELEASE_URL = f"{BASE}/v1/releases/midnight-tapes"


def _license_element(client: Any, route: str) -> str:
    """The RSL <license> element of ``route`` for the release, as the document has it."""
    root = ET.fromstring(client.get("/r/midnight-tapes/rsl.xml").content)
    content = next(c for c in root.iter(f"{{{rsl.RSL_NS}}}content")
                   if c.get("url") == RELEASE_URL)
    assert content.get("server") == f"{BASE}/olp"
    element = next(e for e in content.iter(f"{{{rsl.RSL_NS}}}license")
                   if e.get(f"{{{rsl.MUSIC_NS}}}route") == route)
    return ET.tostring(element, encoding="unicode")


def _license_token(oauth: Any, agent: Any) -> str:
    response = oauth.http.post("/olp/token", data={
        "grant_type": "rsl", "resource": RELEASE_URL,
        "license": _license_element(oauth.http, "grounding")},
        headers=oauth.basic(agent.client.client_id, agent.secret))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "License" and body["scope"] == "ai-input"
    assert response.headers["cache-control"] == "no-store"
    return body["access_token"]  # type: ignore[no-any-return]


def test_an_agent_gets_a_license_and_uses_it_on_protected_content(oauth: Any) -> None:
    agent = oauth.agent()
    # Without a license: 401 for the public, 402 for the agent, both naming the server.
    public = oauth.http.get(LYRIC, params={"use": "ai-input"})
    assert public.status_code == 401
    assert public.headers["www-authenticate"].startswith("License ")
    assert f'server="{BASE}/olp"' in public.headers["www-authenticate"]
    assert public.headers["content-type"] == "application/problem+json"
    bearer = oauth.bearer(oauth.token(agent))
    unlicensed = oauth.http.get(LYRIC, params={"use": "ai-input"}, headers=bearer)
    assert unlicensed.status_code == 402
    assert 'error="license_required"' in unlicensed.headers["www-authenticate"]
    token = _license_token(oauth, agent)
    licensed = oauth.http.get(LYRIC, params={"use": "ai-input"},
                              headers={"authorization": f"License {token}"})
    assert licensed.status_code == 200, licensed.text
    assert licensed.json()["lyric"].startswith("Play it back")
    assert licensed.json()["by"] != "permitted"
    # The license covers ai-input, not training, and not another release.
    training = oauth.http.get(LYRIC, params={"use": "ai-train"},
                              headers={"authorization": f"License {token}"})
    assert training.status_code == 402
    assert "scope_not_covered" in training.headers["www-authenticate"]
    other = oauth.http.get("/v1/lyrics/glass-hours/1/chorus", params={"use": "ai-input"},
                           headers={"authorization": f"License {token}"})
    assert other.status_code in (402, 404)
    if other.status_code == 402:
        assert "resource_not_covered" in other.headers["www-authenticate"]
    # A use the policy permits needs no license.
    listen = oauth.http.get(LYRIC, params={"use": "listen"})
    assert listen.status_code == 200 and listen.json()["by"] == "permitted"


def test_introspection_answers_for_a_resource_and_use(oauth: Any) -> None:
    agent = oauth.agent()
    token = _license_token(oauth, agent)
    auth = oauth.basic(agent.client.client_id, agent.secret)
    hook_url = f"{BASE}/v1/hooks/midnight-tapes/1/chorus"
    active = oauth.http.post("/olp/introspect", data={
        "token": token, "resource": hook_url, "scope": "ai-input"}, headers=auth).json()
    assert active["active"] is True and active["token_type"] == "License"
    assert active["resource"] == "release:midnight-tapes"
    for question in ({"resource": f"{BASE}/v1/releases/glass-hours", "scope": "ai-input"},
                     {"resource": hook_url, "scope": "remix"}, {}):
        answer = oauth.http.post("/olp/introspect", data={"token": token + "x" * (not question),
                                                          **question}, headers=auth).json()
        assert answer == {"active": False}
    unauthenticated = oauth.http.post("/olp/introspect", data={"token": token})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"] == "invalid_client"


@pytest.mark.parametrize("authorization", ["License", "License a b", "License   "])
def test_a_malformed_license_header_is_refused(oauth: Any, authorization: str) -> None:
    response = oauth.http.get(LYRIC, params={"use": "ai-input"},
                              headers={"authorization": authorization})
    assert response.status_code in (401, 402)
    assert response.headers["www-authenticate"].startswith("License ")


def test_a_forged_license_token_is_refused(oauth: Any) -> None:
    agent = oauth.agent()
    token = _license_token(oauth, agent)
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    response = oauth.http.get(LYRIC, params={"use": "ai-input"},
                              headers={"authorization": f"License {forged}"})
    assert response.status_code == 402
    assert "invalid_token" in response.headers["www-authenticate"]


@pytest.mark.parametrize("form, error", [
    ({"grant_type": "password", "resource": RELEASE_URL}, "unsupported_grant_type"),
    ({"grant_type": "client_credentials", "resource": "https://evil.example/v1/releases/x"},
     "invalid_target"),
    ({"grant_type": "client_credentials", "resource": f"{BASE}/v1/releases/nope"},
     "invalid_target"),
    ({"grant_type": "client_credentials", "resource": RELEASE_URL}, "invalid_request"),
    ({"grant_type": "rsl", "resource": RELEASE_URL}, "invalid_request"),
    ({"grant_type": "rsl", "resource": RELEASE_URL,
      "license": '<!DOCTYPE x [<!ENTITY a "b">]><license xmlns="https://rslstandard.org/rsl"/>'},
     "invalid_request"),
    ({"grant_type": "rsl", "resource": RELEASE_URL, "license": "<license>"},
     "invalid_request"),
    ({"grant_type": "rsl", "resource": RELEASE_URL, "license": "x" * 20000},
     "invalid_request"),
    ({"grant_type": "rsl", "resource": RELEASE_URL,
      "license": '<license xmlns="https://rslstandard.org/rsl" '
                 'xmlns:m="https://casset.example/ns/rsl-music/1" m:route="tidewater"/>'},
     "invalid_grant"),
])
def test_bad_token_requests_get_oauth_errors(oauth: Any, form: dict[str, str],
                                             error: str) -> None:
    agent = oauth.agent()
    response = oauth.http.post("/olp/token", data=form,
                               headers=oauth.basic(agent.client.client_id, agent.secret))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_the_token_endpoint_needs_client_credentials(oauth: Any) -> None:
    response = oauth.http.post("/olp/token", data={"grant_type": "client_credentials",
                                                   "resource": RELEASE_URL})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    wrong = oauth.http.post("/olp/token", data={"grant_type": "client_credentials"},
                            headers=oauth.basic("someone", "wrong"))
    assert wrong.status_code == 401
