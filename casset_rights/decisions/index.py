"""The rights index: what the request path reads, kept in memory.

Every release head (its artist, manifest hash, track and hook ids) and every policy head,
compiled once, keyed by the target it applies to. A decision resolves its resource and
policy chain with dictionary look-ups only. The index rebuilds itself when the catalog
or the policies changed: at once after a write in this process, and within
``refresh_seconds`` after a write in another process (a background thread compares the
stored generations).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import msgspec

from casset_rights.decisions.policy_store import PolicyStore
from casset_rights.errors import NotFound, UnknownResource
from casset_rights.manifests.catalog import CatalogService
from casset_rights.policy import CompiledPolicy, ResourceRef, compile_policy

logger = logging.getLogger("casset_rights.decisions")


class ReleaseEntry(msgspec.Struct, frozen=True):
    """A release head as the request path needs it. ``titles`` maps a resource path
    (``R``, ``R/T``, ``R/T/H``) to the title attribution uses (a hook: its track's)."""

    release_id: str
    artist_id: str
    artist_name: str
    title: str
    manifest_hash: str
    version: int
    tracks: frozenset[str]
    hooks: frozenset[str]
    titles: dict[str, str]


class Resolved(msgspec.Struct, frozen=True):
    """A resource that exists, with the release it belongs to and its policy chain."""

    ref: ResourceRef
    release: ReleaseEntry
    chain: tuple[CompiledPolicy, ...]


class _Snapshot(msgspec.Struct, frozen=True):
    releases: dict[str, ReleaseEntry]
    policies: dict[str, CompiledPolicy]
    generation: tuple[int, int]


class RightsIndex:
    def __init__(self, *, catalog: CatalogService, policies: PolicyStore,
                 refresh_seconds: float = 1.0) -> None:
        self._catalog = catalog
        self._policies = policies
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(releases={}, policies={}, generation=(-1, -1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- building -----------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Rebuild when the stored generations moved (or always with ``force``).
        Returns whether a rebuild happened."""
        generation = (self._catalog.generation(), self._policies.generation())
        if not force and generation == self._snapshot.generation:
            return False
        with self._lock:
            releases = {e.release_id: e for e in self._release_entries()}
            compiled: dict[str, CompiledPolicy] = {}
            for stored in self._policies.heads():
                policy = compile_policy(stored.model())
                compiled[self._target_key(policy.artist, policy.applies_to)] = policy
            self._snapshot = _Snapshot(releases=releases, policies=compiled,
                                       generation=generation)
        logger.info("rights index: %d releases, %d policies", len(releases), len(compiled))
        return True

    def _release_entries(self) -> Iterable[ReleaseEntry]:
        names: dict[str, str] = {}
        for head in self._catalog.all_heads():
            manifest = head.manifest
            if manifest.artist not in names:
                names[manifest.artist] = self._artist_name(manifest.artist)
            titles = {manifest.id: manifest.title}
            for t in manifest.tracks:
                titles[f"{manifest.id}/{t.id}"] = t.title
                for h in t.hooks:
                    titles[f"{manifest.id}/{t.id}/{h.id}"] = t.title
            tracks = frozenset(f"{manifest.id}/{t.id}" for t in manifest.tracks)
            hooks = frozenset(f"{manifest.id}/{t.id}/{h.id}"
                              for t in manifest.tracks for h in t.hooks)
            yield ReleaseEntry(release_id=manifest.id, artist_id=manifest.artist,
                               artist_name=names[manifest.artist], title=manifest.title,
                               manifest_hash=head.hash, version=manifest.version,
                               tracks=tracks, hooks=hooks, titles=titles)

    def _artist_name(self, artist_id: str) -> str:
        try:
            return self._catalog.artist(artist_id).display_name
        except NotFound:
            return artist_id

    @staticmethod
    def _target_key(artist: str, applies_to: str) -> str:
        return f"artist:{artist}" if applies_to == "artist" else applies_to

    def start(self) -> None:
        """Watch for writes from other processes."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="rights-index", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self._refresh_seconds):
            try:
                self.refresh()
            except Exception:  # the next round tries again; the old snapshot keeps serving
                logger.exception("rights index refresh failed")

    # -- reading (the request path) ----------------------------------------------

    def resolve(self, ref: ResourceRef) -> Resolved:
        """The resource's release and policy chain (artist, release, track, hook).
        Raises UnknownResource when the release, track or hook does not exist."""
        snap = self._snapshot
        release = snap.releases.get(ref.release_id)
        if release is None:
            raise UnknownResource(f"no release {ref.release_id!r}")
        keys = [f"artist:{release.artist_id}", f"release:{ref.release_id}"]
        if ref.track_id is not None:
            track = f"{ref.release_id}/{ref.track_id}"
            if track not in release.tracks:
                raise UnknownResource(f"no track {track!r}")
            keys.append(f"track:{track}")
            if ref.hook_id is not None:
                hook = f"{track}/{ref.hook_id}"
                if hook not in release.hooks:
                    raise UnknownResource(f"no hook {hook!r}")
                keys.append(f"hook:{hook}")
        policies = snap.policies
        # Only the release's own artist governs it: a policy another artist aimed at this
        # release (possible through files) is passed over rather than trusted.
        chain = tuple(policies[k] for k in keys
                      if k in policies and policies[k].artist == release.artist_id)
        return Resolved(ref=ref, release=release, chain=chain)

    def release(self, release_id: str) -> ReleaseEntry:
        entry = self._snapshot.releases.get(release_id)
        if entry is None:
            raise UnknownResource(f"no release {release_id!r}")
        return entry

    def releases_of(self, artist_id: str) -> list[ReleaseEntry]:
        return [r for r in self._snapshot.releases.values() if r.artist_id == artist_id]

    def policy(self, target: str) -> CompiledPolicy | None:
        return self._snapshot.policies.get(target)

    # -- listing (exports read these; not the request path) ---------------------------

    @property
    def generation(self) -> tuple[int, int]:
        """The (catalog, policies) generation the current snapshot was built from."""
        return self._snapshot.generation

    def all_releases(self) -> list[ReleaseEntry]:
        return sorted(self._snapshot.releases.values(), key=lambda r: r.release_id)

    def all_policies(self) -> list[CompiledPolicy]:
        return sorted(self._snapshot.policies.values(), key=lambda p: p.id)
