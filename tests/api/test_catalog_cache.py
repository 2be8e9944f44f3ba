"""Catalog reads from memory: strong ETags named by the manifest hash, 304, caching."""

from __future__ import annotations

import json
from pathlib import Path

from litestar.testing import TestClient

from casset_rights.api.catalog import matches
from casset_rights.services import Services

ROOT = Path(__file__).resolve().parents[2]
READS = ["/v1/releases/midnight-tapes", "/v1/releases/midnight-tapes/versions",
         "/v1/releases/midnight-tapes/versions/1", "/v1/tracks/midnight-tapes/1",
         "/v1/hooks/midnight-tapes/1/chorus"]


def test_a_version_carries_its_hash_as_a_strong_etag_and_is_immutable(
        client: TestClient) -> None:
    v1 = client.get("/v1/releases/midnight-tapes/versions/1")
    assert v1.status_code == 200
    assert v1.headers["etag"] == f'"{v1.json()["hash"]}"'
    assert v1.headers["cache-control"] == "public, max-age=31536000, immutable"
    head = client.get("/v1/releases/midnight-tapes")
    assert head.headers["etag"] == f'"{head.json()["hash"]}"' != v1.headers["etag"]
    assert head.headers["cache-control"] == "public, no-cache"  # the head moves on


def test_if_none_match_answers_304_without_a_body(client: TestClient) -> None:
    for path in READS:
        first = client.get(path)
        assert first.status_code == 200, path
        etag = first.headers["etag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == etag
        listed = client.get(path, headers={"If-None-Match": f'"sha256:00", W/{etag}'})
        assert listed.status_code == 304, path
        other = client.get(path, headers={"If-None-Match": '"sha256:00"'})
        assert other.status_code == 200 and other.json() == first.json(), path
    etags = {client.get(path).headers["etag"] for path in READS[1:]}
    assert len(etags) == len(READS) - 1  # each representation its own validator


def test_matching_follows_rfc_9110() -> None:
    assert matches('"a"', b'"a"') and matches('W/"a"', b'"a"') and matches("*", b'"a"')
    assert matches('"b", "a"', b'"a"')
    assert not matches('"b"', b'"a"') and not matches(None, b'"a"') and not matches("", b'"a"')


def test_a_new_version_moves_the_head_and_its_etag(client: TestClient,
                                                   services: Services) -> None:
    before = client.get("/v1/releases/glass-hours")
    history = client.get("/v1/releases/glass-hours/versions")
    manifest = json.loads((ROOT / "examples" / "catalog" / "glass-hours" / "v1.json")
                          .read_text())
    stored = services.catalog.put_version({
        **manifest, "version": before.json()["version"] + 1,
        "previous": before.json()["hash"], "title": "Glass Hours (deluxe)"})
    services.index.refresh()
    after = client.get("/v1/releases/glass-hours",
                       headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] == f'"{stored.hash}"'
    assert after.json()["manifest"]["title"] == "Glass Hours (deluxe)"
    versions = client.get("/v1/releases/glass-hours/versions",
                          headers={"If-None-Match": history.headers["etag"]})
    assert versions.status_code == 200
    assert [v["hash"] for v in versions.json()["versions"]][-1] == stored.hash
