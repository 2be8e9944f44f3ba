"""The catalog on SQLite and PostgreSQL: chained versions, conflicts, races, look-ups."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from casset_rights.errors import (
    Conflict,
    InvalidInput,
    ManifestInvalid,
    NotFound,
    StaleVersion,
    UnknownResource,
)
from casset_rights.log_queue import log_pending
from casset_rights.manifests import (
    CatalogService,
    StoredVersion,
    load_catalog_directory,
    manifest_hash,
    validate_manifest,
)
from casset_rights.manifests import catalog as catalog_module

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
POLICIES = Path(__file__).resolve().parents[2] / "policies"


def manifest(release: str = "night-drive", *, version: int = 1, previous: str | None = None,
             artist: str = "nightglass", hooks: tuple[str, ...] = ("chorus", "outro"),
             title: str = "Night Drive") -> dict[str, Any]:
    return {
        "id": release, "version": version, "previous": previous, "artist": artist,
        "title": title, "policy": f"{artist}-default", "created_at": "2024-03-15T09:00:00Z",
        "visuals": [],
        "tracks": [{
            "id": str(n), "title": f"Track {n}", "isrc": None, "duration_ms": 200000,
            "audio": {"content_hash": "sha256:" + hashlib.sha256(f"{release}/{n}".encode())
                      .hexdigest(), "media_type": "audio/flac"},
            "credits": [{"name": "Ines Varga", "roles": ["performer"], "split": 100}],
            "hooks": [{"id": h, "start_ms": 1000 * k, "end_ms": 1000 * k + 30000,
                       "caption": f"{h} of {n}"} for k, h in enumerate(hooks)],
        } for n in (1, 2)],
    }


class Queued:
    """The manifest versions queued for the log, in queue order: each new version is
    queued in the transaction that stores it, once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def hashes(self) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.execute(select(log_pending.c.ref)
                                     .where(log_pending.c.kind == "manifest")
                                     .order_by(log_pending.c.seq)).scalars())

    def __len__(self) -> int:
        return len(self.hashes())


@pytest.fixture
def stored(engine: Engine) -> Queued:
    return Queued(engine)


@pytest.fixture
def catalog(engine: Engine) -> CatalogService:
    return CatalogService(engine)


def test_versions_chain_through_previous(catalog: CatalogService,
                                         stored: Queued) -> None:
    v1 = catalog.put_version(manifest())
    assert (v1.version, v1.previous, v1.created) == (1, None, True)
    assert v1.hash == manifest_hash(manifest())
    assert v1.hash == "sha256:" + hashlib.sha256(v1.document.encode()).hexdigest()
    v2 = catalog.put_version(manifest(version=2, previous=v1.hash, hooks=("chorus",)))
    assert catalog.head("night-drive").hash == v2.hash
    assert catalog.version("night-drive", 1).manifest == v1.manifest
    assert [v.hash for v in catalog.history("night-drive")] == [v1.hash, v2.hash]
    assert stored.hashes() == [v1.hash, v2.hash]
    # The head's tracks and hooks follow the head: v2 dropped the outro hooks.
    assert [h.local_id for h in catalog.hooks("night-drive/1")] == ["chorus"]
    with pytest.raises(UnknownResource):
        catalog.hook("night-drive/1/outro")
    with pytest.raises(NotFound):
        catalog.version("night-drive", 3)
    with pytest.raises(UnknownResource):
        catalog.head("no-such-release")


def test_a_stale_or_skipping_version_is_refused(catalog: CatalogService) -> None:
    v1 = catalog.put_version(manifest())
    v2 = catalog.put_version(manifest(version=2, previous=v1.hash, title="Night Drive (2)"))
    refused = [
        manifest(version=3, previous=v1.hash),                          # previous not the head
        manifest(version=2, previous=v1.hash, title="Another v2"),      # version taken
        manifest(version=4, previous=v2.hash),                          # skips version 3
        manifest(title="Another v1"),                                   # release exists
        manifest("unknown", version=2, previous=v1.hash),               # no such release
    ]
    for document in refused:
        with pytest.raises(StaleVersion) as caught:
            catalog.put_version(document)
        assert caught.value.code == "stale_version"
    assert catalog.head("night-drive").hash == v2.hash
    assert catalog.generation() == 2


def test_the_artist_of_a_release_cannot_change(catalog: CatalogService) -> None:
    v1 = catalog.put_version(manifest())
    with pytest.raises(Conflict):
        catalog.put_version(manifest(version=2, previous=v1.hash, artist="mara-quell"))


def test_putting_the_same_document_again_is_idempotent(catalog: CatalogService,
                                                       stored: Queued) -> None:
    first = catalog.put_version(manifest())
    reordered = json.loads(json.dumps(manifest(), sort_keys=True, indent=3))
    again = catalog.put_version(reordered)
    assert (again.created, again.hash, again.stored_at) == (False, first.hash, first.stored_at)
    assert len(stored) == 1 and catalog.generation() == 1
    v2 = catalog.put_version(manifest(version=2, previous=first.hash))
    assert catalog.put_version(manifest()).created is False   # an old version, still stored
    assert catalog.head("night-drive").hash == v2.hash


def test_an_invalid_manifest_stores_nothing(catalog: CatalogService) -> None:
    bad = manifest()
    bad["tracks"][0]["credits"][0]["split"] = 99
    with pytest.raises(ManifestInvalid) as caught:
        catalog.put_version(bad)
    assert [e.pointer for e in caught.value.errors] == ["/tracks/0/credits"]
    assert catalog.generation() == 0


def race(count: int, put: Callable[[int], StoredVersion]) -> tuple[list[StoredVersion], list]:
    barrier = threading.Barrier(count)

    def attempt(n: int) -> StoredVersion | Exception:
        barrier.wait()
        try:
            return put(n)
        except StaleVersion as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(attempt, range(count)))
    return ([r for r in results if isinstance(r, StoredVersion)],
            [r for r in results if isinstance(r, Exception)])


def test_concurrent_writers_of_one_version_cannot_both_win(
        catalog: CatalogService, stored: Queued) -> None:
    v1 = catalog.put_version(manifest())
    wins, losses = race(8, lambda n: catalog.put_version(
        manifest(version=2, previous=v1.hash, title=f"Take {n}")))
    assert len(wins) == 1 and len(losses) == 7
    assert catalog.head("night-drive").hash == wins[0].hash
    assert [v.version for v in catalog.history("night-drive")] == [1, 2]
    assert len(stored) == 2


def test_concurrent_creators_of_one_release_cannot_both_win(catalog: CatalogService) -> None:
    wins, losses = race(6, lambda n: catalog.put_version(manifest("new", title=f"Take {n}")))
    assert len(wins) == 1 and len(losses) == 5
    assert catalog.head("new").hash == wins[0].hash


def test_concurrent_puts_of_one_document_all_succeed_once(catalog: CatalogService,
                                                          stored: Queued) -> None:
    wins, losses = race(6, lambda n: catalog.put_version(manifest("same")))
    assert len(wins) == 6 and not losses
    assert sum(w.created for w in wins) == 1 and len(stored) == 1
    assert len({w.hash for w in wins}) == 1


def test_releases_are_listed_in_pages(catalog: CatalogService) -> None:
    ids = sorted(f"release-{n:02d}" for n in range(23))
    for n, rid in enumerate(ids):
        catalog.put_version(manifest(rid, artist="nightglass" if n % 2 else "mara-quell"))
    seen, cursor, pages = [], None, 0
    while True:
        page = catalog.list_releases(cursor=cursor, limit=5)
        seen += [r.id for r in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids and pages == 5
    theirs = catalog.list_releases(cursor=None, limit=100, artist_id="nightglass")
    assert [r.id for r in theirs.items] == ids[1::2] and theirs.next_cursor is None
    exact = catalog.list_releases(cursor=None, limit=23)
    assert len(exact.items) == 23 and exact.next_cursor is None
    for bad in ("not-a-cursor", "", "after:", "after:-x", "YWZ0ZXI6bWlkbmlnaHQ"):
        with pytest.raises(InvalidInput):
            catalog.list_releases(cursor=bad, limit=5)
    for limit in (0, catalog_module.MAX_PAGE + 1):
        with pytest.raises(InvalidInput):
            catalog.list_releases(cursor=None, limit=limit)


def test_a_page_does_not_shift_when_releases_are_added(catalog: CatalogService) -> None:
    for rid in ("b", "d", "f"):
        catalog.put_version(manifest(rid))
    first = catalog.list_releases(cursor=None, limit=2)
    catalog.put_version(manifest("a"))
    catalog.put_version(manifest("e"))
    rest = catalog.list_releases(cursor=first.next_cursor, limit=10)
    assert [r.id for r in first.items] == ["b", "d"] and [r.id for r in rest.items] == ["e", "f"]


def test_resolve_releases_tracks_and_hooks(catalog: CatalogService) -> None:
    v1 = catalog.put_version(manifest())
    release = catalog.resolve("release:night-drive")
    assert (release.kind, release.artist_id, release.manifest_hash) == ("release", "nightglass",
                                                                       v1.hash)
    assert release.policy_id == "nightglass-default" and release.track is None
    track = catalog.resolve("track:night-drive/2")
    assert track.track is not None and track.track.title == "Track 2" and track.hook is None
    hook = catalog.resolve("night-drive/1/chorus")
    assert hook.ref == "hook:night-drive/1/chorus"
    assert hook.hook is not None and (hook.hook.start_ms, hook.hook.end_ms) == (0, 30000)
    assert hook.track == catalog.track("night-drive/1")
    for missing in ("release:nope", "track:night-drive/9", "hook:night-drive/1/drop",
                    "hook:nope/1/chorus"):
        with pytest.raises(UnknownResource):
            catalog.resolve(missing)
    for malformed in ("track:night-drive", "NOPE"):
        with pytest.raises(InvalidInput):
            catalog.resolve(malformed)
    v2 = catalog.put_version(manifest(version=2, previous=v1.hash, hooks=("drop",)))
    assert catalog.resolve("hook:night-drive/1/drop").manifest_hash == v2.hash
    with pytest.raises(UnknownResource):
        catalog.resolve("hook:night-drive/1/chorus")


def test_generation_grows_with_every_stored_version(catalog: CatalogService) -> None:
    generations = [catalog.generation()]
    v1 = catalog.put_version(manifest())
    generations.append(catalog.generation())
    catalog.put_version(manifest())
    generations.append(catalog.generation())
    catalog.put_version(manifest(version=2, previous=v1.hash))
    generations.append(catalog.generation())
    catalog.put_version(manifest("other"))
    generations.append(catalog.generation())
    assert generations == [0, 1, 1, 2, 3]


def test_all_heads_reads_every_head_in_batches(catalog: CatalogService, engine: Engine,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_module, "_HEADS_BATCH", 2)
    heads = {}
    for rid in ("e", "a", "c", "b", "d"):
        heads[rid] = catalog.put_version(manifest(rid))
    heads["c"] = catalog.put_version(manifest("c", version=2, previous=heads["c"].hash))
    assert [(h.release_id, h.hash) for h in catalog.all_heads()] == \
        [(rid, heads[rid].hash) for rid in sorted(heads)]
    assert list(CatalogService(engine).all_heads())[2].version == 2


def test_artists_are_created_on_first_sight_and_renamed(catalog: CatalogService) -> None:
    catalog.put_version(manifest())
    assert catalog.artist("nightglass").display_name == "nightglass"
    assert catalog.put_artist("nightglass", display_name="Nightglass").display_name == \
        "Nightglass"
    with pytest.raises(NotFound):
        catalog.artist("nobody")
    with pytest.raises(InvalidInput):
        catalog.put_artist("Bad Id", display_name="x")


def test_the_example_catalog_loads_idempotently(catalog: CatalogService) -> None:
    loaded = load_catalog_directory(catalog, EXAMPLES)
    assert len(loaded) == 7 and all(v.created for v in loaded)
    assert [(v.release_id, v.version) for v in loaded][-1] == ("midnight-tapes", 2)
    again = load_catalog_directory(catalog, EXAMPLES)
    assert not any(v.created for v in again) and catalog.generation() == 7
    assert catalog.artist("the-ferrymen").display_name == "The Ferrymen"
    chorus = catalog.resolve("hook:midnight-tapes/1/chorus")
    assert (chorus.policy_id, chorus.head_version) == ("nightglass-midnight-tapes", 2)
    assert catalog.resolve("release:low-orbit").policy_id == "mara-quell-default"
    assert len(catalog.list_releases(cursor=None, limit=50).items) == 6


def test_every_resource_the_example_policies_name_is_in_the_catalog(
        catalog: CatalogService) -> None:
    load_catalog_directory(catalog, EXAMPLES)
    refs = {ref for path in POLICIES.rglob("*.yaml") for ref in re.findall(
        r"\b(?:release|track|hook):[a-z0-9][a-z0-9._/-]*", path.read_text(encoding="utf-8"))}
    if not refs:
        pytest.skip("no example policies")
    for ref in sorted(refs):
        catalog.resolve(ref)


def test_a_bad_file_in_a_folder_stores_nothing(catalog: CatalogService, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(manifest("a")))
    (tmp_path / "b.json").write_text('{\n  "id": "b",\n  "version": }\n')
    with pytest.raises(ManifestInvalid) as caught:
        load_catalog_directory(catalog, tmp_path)
    assert "b.json" in caught.value.detail
    assert (caught.value.errors[0].line, caught.value.errors[0].column) == (3, 14)
    (tmp_path / "b.json").write_text(json.dumps({**manifest("b"), "version": 0}))
    with pytest.raises(ManifestInvalid):
        load_catalog_directory(catalog, tmp_path)
    assert catalog.generation() == 0


def test_stored_documents_decode_to_the_validated_manifest(catalog: CatalogService) -> None:
    document = copy.deepcopy(manifest())
    document["tracks"][0]["credits"] = [
        {"name": "A", "roles": ["performer"], "split": 16.75},
        {"name": "B", "roles": ["composer"], "split": 52.01},
        {"name": "C", "roles": ["producer"], "split": 31.24}]
    put = catalog.put_version(document)
    assert catalog.head("night-drive").manifest == validate_manifest(document) == put.manifest
