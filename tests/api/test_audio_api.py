"""Audio over HTTP: uploads checked against the manifest's hash, refused whole when
bad; previews behind the preview decision, signed URLs, Range/ETag streaming, and C2PA
inside every preview, verified offline against the trust anchor and the JWKS."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("soundfile")
pytest.importorskip("c2pa")

import http_sf

from casset_rights.agents import aipref
from casset_rights.audio.provenance import verify_preview
from casset_rights.audio.synth import encode_audio, song
from casset_rights.receipts.verify import verify_receipt

RATE = 44100


@pytest.fixture(scope="module")
def flac() -> bytes:
    return encode_audio(song(40, seed=3, chorus=(10, 25)), RATE, "flac")


@pytest.fixture
def nightglass(oauth: Any) -> dict[str, str]:
    return oauth.bearer(oauth.token(oauth.artist("nightglass")))


def declare(oauth: Any, headers: dict[str, str], data: bytes, *, release: str = "glass-hours",
            duration_ms: int = 40000) -> str:
    """Publish the next version of ``release`` whose track 1 names ``data``'s hash, with
    its chorus at 10 - 25 s; returns the hash."""
    head = oauth.http.get(f"/v1/releases/{release}").json()
    manifest = copy.deepcopy(head["manifest"])
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    track = manifest["tracks"][0]
    track["audio"]["content_hash"] = digest
    track["duration_ms"] = duration_ms
    for hook in track["hooks"]:
        if hook["id"] == "chorus":
            hook.update(start_ms=10000, end_ms=25000)
    manifest.update(version=head["version"] + 1, previous=head["hash"],
                    created_at="2026-12-01T12:00:00Z")
    answer = oauth.http.post(f"/v1/releases/{release}/versions", json=manifest,
                             headers=headers)
    assert answer.status_code in (200, 201), answer.text
    return digest


def upload(oauth: Any, headers: dict[str, str], data: bytes, *, release: str = "glass-hours",
           track: str = "1") -> Any:
    return oauth.http.put(f"/v1/tracks/{release}/{track}/audio", content=data,
                          headers={**headers, "Content-Type": "application/octet-stream"})


def blobs_in(services: Any) -> list[Path]:
    root = services.settings.resolved_blob_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# -- upload ----------------------------------------------------------------------------


def test_an_upload_is_stored_once_under_its_hash(oauth: Any, nightglass: dict[str, str],
                                                 flac: bytes, services: Any) -> None:
    digest = declare(oauth, nightglass, flac)
    first = upload(oauth, nightglass, flac)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["content_hash"] == digest and body["format"] == "flac"
    assert body["duration_ms"] == 40000 and body["channels"] == 2 and body["created"]
    assert body["analysis"] == "queued"
    again = upload(oauth, nightglass, flac)
    assert again.status_code == 200 and again.json()["created"] is False
    assert len(blobs_in(services)) == 1
    analysis = oauth.http.get("/v1/tracks/glass-hours/1/analysis").json()
    assert analysis["state"] == "queued" and analysis["progress"] == 0


def test_bytes_other_than_the_manifest_declares_are_refused_with_both_hashes(
        oauth: Any, nightglass: dict[str, str], flac: bytes, services: Any) -> None:
    digest = declare(oauth, nightglass, flac)
    other = encode_audio(song(5, seed=9), RATE, "wav")
    answer = upload(oauth, nightglass, other)
    assert answer.status_code == 409
    problem = answer.json()
    assert problem["code"] == "audio_hash_mismatch" and problem["declared"] == digest
    assert problem["received"] == "sha256:" + hashlib.sha256(other).hexdigest()
    assert blobs_in(services) == []
    assert list((services.settings.data_dir / "tmp" / "uploads").iterdir()) == []


@pytest.mark.parametrize(("name", "make", "status", "code"), [
    ("png renamed .mp3", lambda: b"\x89PNG\r\n\x1a\n" + bytes(2000), 415, "audio_unsupported"),
    ("zero bytes", lambda: b"", 422, "audio_empty"),
    ("truncated flac", lambda: encode_audio(song(6), RATE, "flac")[:3000], 422,
     "audio_corrupt"),
    ("corrupt wav header", lambda: b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(500), 422,
     "audio_corrupt"),
])
def test_bad_audio_gets_a_stable_problem_and_nothing_is_kept(
        oauth: Any, nightglass: dict[str, str], services: Any, name: str, make: Any,
        status: int, code: str) -> None:
    data = make()
    declare(oauth, nightglass, data)
    answer = upload(oauth, nightglass, data)
    assert answer.status_code == status, (name, answer.text)
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
    assert blobs_in(services) == []


def test_uploads_only_to_the_artists_own_existing_tracks(
        oauth: Any, nightglass: dict[str, str], flac: bytes) -> None:
    ferrymen = oauth.bearer(oauth.token(oauth.artist("the-ferrymen")))
    assert upload(oauth, ferrymen, flac).status_code == 404  # another artist's release
    assert upload(oauth, nightglass, flac, track="99").status_code == 404
    assert upload(oauth, nightglass, flac, release="no-such").status_code == 404
    anonymous = oauth.http.put("/v1/tracks/glass-hours/1/audio", content=flac)
    assert anonymous.status_code == 401
    agent = oauth.bearer(oauth.token(oauth.agent()))
    assert upload(oauth, agent, flac).status_code == 403


def test_a_body_over_the_limit_is_refused_before_anything_is_kept(
        oauth: Any, nightglass: dict[str, str], services: Any, flac: bytes) -> None:
    import msgspec

    services.audio.settings = msgspec.structs.replace(services.audio.settings,
                                                      audio_max_upload_bytes=100_000)
    declare(oauth, nightglass, flac)
    answer = upload(oauth, nightglass, flac)
    assert answer.status_code == 413 and answer.json()["code"] == "audio_too_large"

    def chunks() -> Any:  # no Content-Length: the limit holds while streaming
        for start in range(0, len(flac), 65536):
            yield flac[start:start + 65536]

    streamed = oauth.http.put("/v1/tracks/glass-hours/1/audio", content=chunks(),
                              headers=nightglass)
    assert streamed.status_code == 413 and streamed.json()["code"] == "audio_too_large"
    assert blobs_in(services) == []


# -- previews ---------------------------------------------------------------------------


def preview(oauth: Any, resource: str, headers: dict[str, str] | None = None) -> Any:
    return oauth.http.post("/v1/previews", json={"resource": resource}, headers=headers or {})


def test_a_permitted_preview_is_signed_streamed_and_carries_its_rights(
        oauth: Any, nightglass: dict[str, str], flac: bytes, services: Any) -> None:
    declare(oauth, nightglass, flac)
    assert upload(oauth, nightglass, flac).status_code == 201
    answer = preview(oauth, "hook:glass-hours/1/chorus")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["decision"] == "permit" and body["media_type"] == "audio/mp4"
    assert (body["start_ms"], body["end_ms"]) == (10000, 25000)
    assert answer.headers["link"] == '<http://rights.test/r/glass-hours>; rel="license"'
    # Every category of the AI-preference vocabulary, each as the engine answers an agent.
    usage = http_sf.parse(answer.headers["content-usage"].encode(), tltype="dictionary")
    terms = services.agents.terms("hook:glass-hours/1/chorus")
    assert {k: str(v) for k, (v, _) in usage.items()} == {
        label: "y" if terms.value(scope) == "permit" else "n"
        for label, scope in aipref.LABELS.items()}
    assert set(usage) == {"train-ai", "ai-use", "search"}
    url = body["preview_url"].removeprefix("http://rights.test")
    whole = oauth.http.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/mp4"
    assert whole.headers["cache-control"].startswith("private")
    etag = whole.headers["etag"]
    data = whole.content
    assert data[4:8] == b"ftyp"
    part = oauth.http.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert oauth.http.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    assert oauth.http.get(url, headers={"If-None-Match": etag}).status_code == 304
    anchor = oauth.http.get("/.well-known/c2pa-trust-anchor.pem").content
    jwks = oauth.http.get("/.well-known/jwks.json").json()
    report = verify_preview(data, mime="audio/mp4", anchor_pem=anchor, jwks=jwks,
                            verify_receipt=verify_receipt)
    assert [s.name for s in report.steps] == [
        "c2pa-manifest", "c2pa-integrity", "c2pa-trust", "rights-assertion",
        "receipt-signature", "receipt-binding", "training-mining"]
    assert report.rights["resource"] == "hook:glass-hours/1/chorus"
    assert report.rights["receipt_id"] == body["receipt_id"]
    assert report.rights["policy_hash"] == body["policy_hash"]
    # nightglass denies ai-train and offers ai-input by license: the CAWG entries say so.
    assert report.training["cawg.ai_training"] == {"use": "notAllowed"}
    assert report.training["cawg.ai_inference"]["use"] in ("constrained", "notAllowed")


def test_a_preview_url_is_refused_tampered_expired_or_to_another_principal(
        oauth: Any, nightglass: dict[str, str], flac: bytes, services: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    declare(oauth, nightglass, flac)
    upload(oauth, nightglass, flac)
    agent = oauth.bearer(oauth.token(oauth.agent()))
    body = preview(oauth, "hook:glass-hours/1/chorus", agent).json()
    url = body["preview_url"].removeprefix("http://rights.test")
    assert oauth.http.get(url, headers=agent).status_code == 200
    other = oauth.bearer(oauth.token(oauth.agent(name="Another agent")))
    refused = oauth.http.get(url, headers=other)
    assert refused.status_code == 403 and refused.json()["code"] == "preview_link_invalid"
    assert "another principal" in refused.json()["detail"]
    assert oauth.http.get(url).status_code == 403  # nor to the public
    token = url.rsplit("/", 1)[1]
    claims, mac = token.split(".")
    flipped = claims[:-2] + ("A" if claims[-2] != "A" else "B") + claims[-1]
    tampered = oauth.http.get(f"/v1/previews/{flipped}.{mac}", headers=agent)
    assert tampered.status_code == 403 and "altered" in tampered.json()["detail"]
    import time as real_time

    later = real_time.time() + services.settings.preview_url_ttl_seconds + 1
    monkeypatch.setattr("casset_rights.audio.previews.time.time", lambda: later)
    expired = oauth.http.get(url, headers=agent)
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]


def put_policy(oauth: Any, headers: dict[str, str], text: str, policy_id: str) -> None:
    answer = oauth.http.put(f"/v1/policies/{policy_id}", content=text,
                            headers={**headers, "Content-Type": "application/yaml"})
    assert answer.status_code in (200, 201), answer.text


def test_a_denied_preview_is_a_403_problem_and_a_licensed_one_a_402(
        oauth: Any, nightglass: dict[str, str], flac: bytes) -> None:
    declare(oauth, nightglass, flac)
    upload(oauth, nightglass, flac)
    put_policy(oauth, nightglass, """
policy: nightglass-glass-hours-1-intro
artist: nightglass
applies_to: hook:glass-hours/1/intro
rules:
  - id: no-intro-preview
    deny: [preview]
    to: any
""", "nightglass-glass-hours-1-intro")
    denied = preview(oauth, "hook:glass-hours/1/intro")
    assert denied.status_code == 403
    problem = denied.json()
    assert problem["code"] == "preview_denied" and problem["decision"] == "deny"
    assert problem["receipt_id"] and "preview_url" not in problem
    put_policy(oauth, nightglass, """
policy: nightglass-glass-hours-1-chorus
artist: nightglass
applies_to: hook:glass-hours/1/chorus
rules:
  - id: preview-by-license
    route: preview-pass
    for: [preview]
routes:
  preview-pass: { type: paid, price: { amount: 100, currency: usd }, term_days: 30 }
""", "nightglass-glass-hours-1-chorus")
    licensed = preview(oauth, "hook:glass-hours/1/chorus")
    assert licensed.status_code == 402, licensed.text
    problem = licensed.json()
    assert problem["code"] == "preview_license_required"
    assert [r["name"] for r in problem["license_routes"]] == ["preview-pass"]


def test_previews_are_of_hooks_of_tracks_with_audio(oauth: Any) -> None:
    assert preview(oauth, "track:glass-hours/1").status_code == 422
    assert preview(oauth, "hook:glass-hours/1/nope").status_code == 404
    missing = preview(oauth, "hook:glass-hours/1/chorus")  # no audio uploaded
    assert missing.status_code == 404 and missing.json()["code"] == "audio_missing"


def test_a_hook_beyond_the_uploaded_audio_is_a_window_problem(
        oauth: Any, nightglass: dict[str, str]) -> None:
    # The manifest says 60 s (the chorus at 10 - 25 s); the audio is 8 s long.
    short = encode_audio(song(8, seed=8), RATE, "wav")
    declare(oauth, nightglass, short, duration_ms=60000)
    assert upload(oauth, nightglass, short).status_code == 201
    answer = preview(oauth, "hook:glass-hours/1/chorus")
    assert answer.status_code == 422
    assert answer.json()["code"] == "window_invalid"
    assert "outside the track" in answer.json()["detail"]


def test_a_seamless_loop_is_asked_per_request_and_rendered_apart(
        oauth: Any, nightglass: dict[str, str], flac: bytes) -> None:
    import io

    import av

    declare(oauth, nightglass, flac)
    upload(oauth, nightglass, flac)

    def render(loop: bool | None) -> tuple[dict[str, Any], float]:
        body: dict[str, Any] = {"resource": "hook:glass-hours/1/chorus"}
        if loop is not None:
            body["loop"] = loop
        answer = oauth.http.post("/v1/previews", json=body)
        assert answer.status_code == 200, answer.text
        data = oauth.http.get(answer.json()["preview_url"].removeprefix(
            "http://rights.test")).content
        with av.open(io.BytesIO(data)) as container:
            frames = sum(f.samples for f in container.decode(audio=0))
            rate = container.streams.audio[0].rate
        return answer.json(), frames / rate

    faded, faded_s = render(None)  # the service's setting: fades
    looped, looped_s = render(True)
    assert (faded["loop"], looped["loop"]) == (False, True)
    assert looped["preview_url"] != faded["preview_url"]
    # The hook is 15 s; a loop's last 500 ms are crossfaded into its start, then cut.
    assert faded_s == pytest.approx(15.0, abs=0.1)
    assert looped_s == pytest.approx(14.5, abs=0.1)
    again, _ = render(False)
    assert again["loop"] is False
    assert oauth.http.post("/v1/previews", json={"resource": "hook:glass-hours/1/chorus",
                                                 "loop": "yes"}).status_code == 422


@pytest.mark.slow  # the analysis: librosa's numba code, compiled or loaded
def test_the_analysis_reports_hooks_outside_the_audio(
        oauth: Any, nightglass: dict[str, str], services: Any) -> None:
    from casset_rights.audio.analysis_jobs import analyse_track

    short = encode_audio(song(20, seed=8), RATE, "wav")
    # The manifest says 60 s (the chorus at 10 - 25 s); the audio is 20 s long.
    declare(oauth, nightglass, short, duration_ms=60000)
    assert upload(oauth, nightglass, short).status_code == 201
    analyse_track(services, "glass-hours", "1")
    answer = oauth.http.get("/v1/tracks/glass-hours/1/analysis")
    assert answer.status_code == 200 and answer.json()["state"] == "done"
    checks = {c["hook"]: c for c in answer.json()["hook_checks"]}
    chorus = checks["glass-hours/1/chorus"]
    assert not chorus["ok"]
    assert chorus["problems"] == ["the window [10000, 25000) ms lies outside the track "
                                  "(0 to 20000 ms)"]
