"""The artist's write side over HTTP: release versions, policies and the dry run, each
limited to the artist's own catalog (another artist gets 404)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from casset_rights.resources import parse_resource

ROOT = Path(__file__).resolve().parents[2]
YAML = {"Content-Type": "application/yaml"}
MIDNIGHT_POLICY = (ROOT / "policies" / "nightglass-midnight-tapes.yaml").read_text()


@pytest.fixture
def nightglass(oauth: Any) -> dict[str, str]:
    return oauth.bearer(oauth.token(oauth.artist("nightglass")))


@pytest.fixture
def ferrymen(oauth: Any) -> dict[str, str]:
    return oauth.bearer(oauth.token(oauth.artist("the-ferrymen")))


def next_version(oauth: Any, release_id: str, **changes: Any) -> dict[str, Any]:
    head = oauth.http.get(f"/v1/releases/{release_id}").json()
    manifest = copy.deepcopy(head["manifest"])
    manifest.update(version=head["version"] + 1, previous=head["hash"],
                    created_at="2026-11-01T12:00:00Z", **changes)
    return manifest  # type: ignore[no-any-return]


def new_release(oauth: Any, release_id: str, artist: str) -> dict[str, Any]:
    manifest = json.loads((ROOT / "examples" / "catalog" / "glass-hours" / "v1.json")
                          .read_text())
    manifest.update(id=release_id, artist=artist, title="Night Sketches",
                    created_at="2026-11-01T12:00:00Z")
    return manifest  # type: ignore[no-any-return]


def decide(oauth: Any, action: str, resource: str, **context: str) -> str:
    body = {"action": action, "resource": resource, "context": context}
    return str(oauth.http.post("/v1/decisions", json=body).json()["decision"])


# -- release versions ----------------------------------------------------------------------


def test_an_artist_publishes_a_new_release(oauth: Any, nightglass: dict[str, str]) -> None:
    response = oauth.http.post("/v1/releases", json=new_release(oauth, "night-sketches",
                                                                "nightglass"),
                               headers=nightglass)
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1 and response.json()["artist"] == "nightglass"
    assert oauth.http.get("/v1/releases/night-sketches").status_code == 200
    # The artist's default policy governs it at once.
    assert decide(oauth, "ai-train", "release:night-sketches") == "deny"
    assert decide(oauth, "reference", "release:night-sketches") == "permit"


def test_an_artist_publishes_the_next_version(oauth: Any, nightglass: dict[str, str]) -> None:
    manifest = next_version(oauth, "midnight-tapes", title="Midnight Tapes (Remastered)")
    response = oauth.http.post("/v1/releases/midnight-tapes/versions", json=manifest,
                               headers=nightglass)
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 3
    again = oauth.http.post("/v1/releases/midnight-tapes/versions", json=manifest,
                            headers=nightglass)
    assert again.status_code == 200  # the same document again is a no-op
    stale = oauth.http.post("/v1/releases/midnight-tapes/versions", json={
        **manifest, "title": "Other"}, headers=nightglass)
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    head = oauth.http.get("/v1/releases/midnight-tapes").json()
    assert head["manifest"]["title"] == "Midnight Tapes (Remastered)"


def test_another_artist_gets_404(oauth: Any, ferrymen: dict[str, str]) -> None:
    manifest = next_version(oauth, "midnight-tapes")
    response = oauth.http.post("/v1/releases/midnight-tapes/versions", json=manifest,
                               headers=ferrymen)
    assert response.status_code == 404 and response.json()["code"] == "unknown_resource"
    missing = oauth.http.post("/v1/releases/no-such-release/versions", json=manifest,
                              headers=ferrymen)
    assert missing.json() == {**missing.json(), "code": "unknown_resource",
                              "status": 404}
    assert response.json()["detail"] == "no release 'midnight-tapes'"


def test_releases_are_published_as_their_artist(oauth: Any, nightglass: dict[str, str]) -> None:
    response = oauth.http.post("/v1/releases", json=new_release(oauth, "forged",
                                                                "the-ferrymen"),
                               headers=nightglass)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    moved = oauth.http.post("/v1/releases/midnight-tapes/versions",
                            json=next_version(oauth, "midnight-tapes", artist="the-ferrymen"),
                            headers=nightglass)
    assert moved.status_code == 422 and moved.json()["errors"][0]["pointer"] == "/artist"
    other = oauth.http.post("/v1/releases/midnight-tapes/versions",
                            json=next_version(oauth, "glass-hours"), headers=nightglass)
    assert other.status_code == 422 and other.json()["errors"][0]["pointer"] == "/id"


def test_an_invalid_manifest_is_located(oauth: Any, nightglass: dict[str, str]) -> None:
    manifest = new_release(oauth, "broken", "nightglass")
    manifest["tracks"][0]["duration_ms"] = -5
    response = oauth.http.post("/v1/releases", json=manifest, headers=nightglass)
    assert response.status_code == 422 and response.json()["code"] == "manifest_invalid"
    assert any(e["pointer"].startswith("/tracks/0") for e in response.json()["errors"])


def test_writing_needs_an_artist_and_the_scope(oauth: Any) -> None:
    manifest = next_version(oauth, "midnight-tapes")
    anonymous = oauth.http.post("/v1/releases/midnight-tapes/versions", json=manifest)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    agent = oauth.bearer(oauth.token(oauth.agent()))
    refused = oauth.http.post("/v1/releases/midnight-tapes/versions", json=manifest,
                              headers=agent)
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    assert "catalog:write" in refused.json()["detail"]
    policies_only = oauth.bearer(oauth.token(oauth.artist("nightglass"),
                                             scope="policies:write"))
    refused = oauth.http.post("/v1/releases/midnight-tapes/versions", json=manifest,
                              headers=policies_only)
    assert refused.status_code == 403 and "catalog:write" in refused.json()["detail"]


def test_a_partner_acting_for_the_artist(oauth: Any) -> None:
    partner, artist = oauth.partner(), oauth.artist("nightglass")
    code, verifier = oauth.code_for(partner, artist)
    token = oauth.exchange(partner, code, verifier).json()["access_token"]
    response = oauth.http.post("/v1/releases/midnight-tapes/versions",
                               json=next_version(oauth, "midnight-tapes"),
                               headers=oauth.bearer(token))
    assert response.status_code == 201, response.text
    ferrymen_release = oauth.http.post("/v1/releases/river-engine/versions",
                                       json=next_version(oauth, "river-engine"),
                                       headers=oauth.bearer(token))
    assert ferrymen_release.status_code == 404
    # The partner in its own name cannot write at all.
    own = oauth.bearer(oauth.token(partner))
    refused = oauth.http.post("/v1/releases/midnight-tapes/versions",
                              json=next_version(oauth, "midnight-tapes"), headers=own)
    assert refused.status_code == 403


# -- policies ----------------------------------------------------------------------------


def test_an_artist_changes_a_policy(oauth: Any, nightglass: dict[str, str]) -> None:
    assert decide(oauth, "listen", "track:midnight-tapes/1") == "permit"
    changed = MIDNIGHT_POLICY.replace("permit: [listen]\n    to: any",
                                      "permit: [listen]\n    to: [partner]")
    response = oauth.http.put("/v1/policies/nightglass-midnight-tapes", content=changed,
                              headers={**nightglass, **YAML})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2 and response.json()["changed"] is True
    assert decide(oauth, "listen", "track:midnight-tapes/1") == "deny"
    same = oauth.http.put("/v1/policies/nightglass-midnight-tapes", content=changed,
                          headers={**nightglass, **YAML})
    assert same.status_code == 200 and same.json()["changed"] is False
    got = oauth.http.get("/v1/policies/nightglass-midnight-tapes", headers=nightglass).json()
    assert got["version"] == 2 and got["source"] == changed


def test_a_new_policy_for_a_track(oauth: Any, nightglass: dict[str, str]) -> None:
    text = ("policy: glass-hours-1\nartist: nightglass\napplies_to: track:glass-hours/1\n"
            "rules:\n  - id: sync-for-partners\n    permit: [sync]\n    to: [partner]\n")
    response = oauth.http.put("/v1/policies/glass-hours-1", content=text,
                              headers={**nightglass, **YAML})
    assert response.status_code == 201, response.text
    assert response.json()["applies_to"] == "track:glass-hours/1"


def test_policies_of_another_artist_are_404(oauth: Any, ferrymen: dict[str, str],
                                            nightglass: dict[str, str]) -> None:
    put = oauth.http.put("/v1/policies/nightglass-midnight-tapes", content=MIDNIGHT_POLICY,
                         headers={**ferrymen, **YAML})
    assert put.status_code == 404 and put.json()["code"] == "not_found"
    get = oauth.http.get("/v1/policies/nightglass-midnight-tapes", headers=ferrymen)
    assert get.status_code == 404
    dry = oauth.http.post("/v1/policies/nightglass-midnight-tapes:validate",
                          content=MIDNIGHT_POLICY, headers={**ferrymen, **YAML})
    assert dry.status_code == 404
    # Nor may an artist aim a policy of their own at another artist's release.
    aimed = ("policy: takeover\nartist: nightglass\napplies_to: release:river-engine\n"
             "rules:\n  - id: all\n    permit: [listen]\n    to: any\n")
    for call in (oauth.http.put("/v1/policies/takeover", content=aimed,
                                headers={**nightglass, **YAML}),
                 oauth.http.post("/v1/policies/takeover:validate", content=aimed,
                                 headers={**nightglass, **YAML})):
        assert call.status_code == 404 and call.json()["code"] == "unknown_resource"
    # The Ferrymen's release is still governed by their policies only.
    chain = oauth.services.index.resolve(parse_resource("release:river-engine")).chain
    assert chain and all(p.artist == "the-ferrymen" for p in chain)
    assert decide(oauth, "listen", "release:river-engine") in ("deny", "license_required")


def test_bad_policies_are_refused_with_locations(oauth: Any, nightglass: dict[str, str]) -> None:
    wrong_id = oauth.http.put("/v1/policies/something-else", content=MIDNIGHT_POLICY,
                              headers={**nightglass, **YAML})
    assert wrong_id.status_code == 422 and wrong_id.json()["errors"][0]["pointer"] == "/policy"
    broken = MIDNIGHT_POLICY.replace("permit: [listen]", "permit: [fly]")
    invalid = oauth.http.put("/v1/policies/nightglass-midnight-tapes", content=broken,
                             headers={**nightglass, **YAML})
    assert invalid.status_code == 422 and invalid.json()["code"] == "policy_invalid"
    assert invalid.json()["errors"][0]["pointer"].startswith("/rules/")
    media = oauth.http.put("/v1/policies/nightglass-midnight-tapes", content=MIDNIGHT_POLICY,
                           headers={**nightglass, "Content-Type": "image/png"})
    assert media.status_code == 415 and media.json()["code"] == "unsupported_media_type"


# -- the dry run ---------------------------------------------------------------------------


def test_the_dry_run_reports_what_would_change(oauth: Any, nightglass: dict[str, str]) -> None:
    candidate = MIDNIGHT_POLICY.replace(
        "permit: [listen]\n    to: any", "permit: [listen]\n    to: [partner]").replace(
        "  - id: grounding-on-asking\n    route: grounding\n    for: [ai-input]",
        "  - id: grounding-on-asking\n    permit: [ai-input]")
    response = oauth.http.post("/v1/policies/nightglass-midnight-tapes:validate",
                               content=candidate, headers={**nightglass, **YAML})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["valid"] is True and report["errors"] == []
    changes = report["changes"]
    # Midnight Tapes: the release, its 2 tracks and 12 hooks; 4 audiences, 3 purposes,
    # 10 scopes each.
    assert changes["resources"] == 15 and changes["questions"] == 15 * 4 * 3 * 10
    assert changes["truncated"] is False
    denied = {(c["resource"], c["action"], c["audience"]) for c in changes["newly_denied"]}
    listen = next(c for c in changes["newly_denied"]
                  if c["resource"] == "track:midnight-tapes/1" and c["action"] == "listen"
                  and c["audience"] == "public")
    assert listen["before"] == "permit" and listen["after"] == "deny"
    assert listen["purposes"] == ["unstated", "commercial", "non-commercial"]
    assert ("track:midnight-tapes/1", "listen", "public") in denied
    assert ("track:midnight-tapes/1", "listen", "agent") in denied
    assert not any(c["audience"] == "partner" and c["action"] == "listen"
                   for c in changes["newly_denied"])
    permitted = {(c["resource"], c["action"], c["audience"], c["before"])
                 for c in changes["newly_permitted"]}
    assert ("release:midnight-tapes", "ai-input", "agent", "license_required") in permitted
    assert not any(c["resource"].startswith(("release:glass-hours", "track:glass-hours"))
                   for c in changes["newly_denied"] + changes["newly_permitted"])
    # A dry run changes nothing.
    assert decide(oauth, "listen", "track:midnight-tapes/1") == "permit"


def test_the_dry_run_of_an_invalid_policy_is_its_report(oauth: Any,
                                                        nightglass: dict[str, str]) -> None:
    broken = MIDNIGHT_POLICY.replace("permit: [listen]", "permit: [fly]")
    report = oauth.http.post("/v1/policies/nightglass-midnight-tapes:validate",
                             content=broken, headers={**nightglass, **YAML}).json()
    assert report["valid"] is False and report["changes"] is None
    assert report["errors"][0]["pointer"].startswith("/rules/")


def test_the_dry_run_refuses_a_second_policy_for_one_target(oauth: Any,
                                                            nightglass: dict[str, str]) -> None:
    second = MIDNIGHT_POLICY.replace("policy: nightglass-midnight-tapes",
                                     "policy: another-for-midnight")
    report = oauth.http.post("/v1/policies/another-for-midnight:validate", content=second,
                             headers={**nightglass, **YAML}).json()
    assert report["valid"] is False
    assert report["errors"][-1]["pointer"] == "/applies_to"


def test_only_validate_is_posted_to_a_policy(oauth: Any, nightglass: dict[str, str]) -> None:
    response = oauth.http.post("/v1/policies/nightglass-midnight-tapes:publish",
                               content=MIDNIGHT_POLICY, headers={**nightglass, **YAML})
    assert response.status_code == 404
