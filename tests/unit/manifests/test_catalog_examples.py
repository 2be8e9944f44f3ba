"""The example catalog: every manifest validates and agrees with the example policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from casset_rights.manifests import manifest_hash, validate_manifest

CATALOG = Path(__file__).resolve().parents[3] / "examples" / "catalog"
MANIFESTS = sorted(p for p in CATALOG.rglob("*.json") if p.name != "artists.json")
RELEASES = {
    "nightglass": {"midnight-tapes", "glass-hours"},
    "mara-quell": {"salt-and-static", "low-orbit"},
    "the-ferrymen": {"river-engine", "lantern-season"},
}


def _shipped_policies() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted((Path(__file__).parents[3] / "policies").glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        out[document["policy"]] = document
    return out


SHIPPED_POLICIES = _shipped_policies()


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(CATALOG)))
def test_every_example_validates(path: Path) -> None:
    manifest = validate_manifest(load(path))
    assert path.parent.name == manifest.id
    assert path.name == f"v{manifest.version}.json"
    # The policy a release names is a shipped policy of its artist that governs it: the
    # release's own policy, or the artist's default.
    governing = SHIPPED_POLICIES[manifest.policy]
    assert governing["artist"] == manifest.artist
    assert governing["applies_to"] in ("artist", f"release:{manifest.id}")
    own = [p for p in SHIPPED_POLICIES.values() if p["applies_to"] == f"release:{manifest.id}"]
    assert governing["applies_to"] == ("release:" + manifest.id if own else "artist")
    assert manifest.id in RELEASES[manifest.artist]
    assert [t.id for t in manifest.tracks] == [str(n) for n in range(1, len(manifest.tracks) + 1)]
    for track in manifest.tracks:
        hook_ids = {h.id for h in track.hooks}
        assert "chorus" in hook_ids and hook_ids <= {"intro", "chorus", "drop", "outro"}


def test_the_catalog_has_every_release_and_artist() -> None:
    heads = {load(p)["id"] for p in MANIFESTS}
    assert heads == set().union(*RELEASES.values())
    artists = load(CATALOG / "artists.json")
    assert {a["id"] for a in artists} == set(RELEASES)
    assert all(a["display_name"] for a in artists)


def test_midnight_tapes_version_2_chains_to_version_1() -> None:
    v1 = load(CATALOG / "midnight-tapes" / "v1.json")
    v2 = validate_manifest(load(CATALOG / "midnight-tapes" / "v2.json"))
    assert v2.version == 2 and v2.previous == manifest_hash(v1)
    assert v2.track("1").hook("chorus") is not None
