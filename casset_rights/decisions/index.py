"""The rights index: what the request path reads, kept in memory.

Every release head (its artist, manifest hash, track and hook ids) and every policy head,
compiled once, keyed by the target it applies to. A decision resolves its resource and
policy chain with dictionary look-ups only. The index rebuilds itself when the catalog
or the policies changed: at once after a write in this process, and within
``refresh_seconds`` after a write in another process (a background thread compares the
stored generations).

The index also keeps its *followers* fresh (held licenses, the lineage graph: see
``decisions.changes``): on SQLite the same thread compares their generations; on
PostgreSQL a ``ChangeListener`` applies the notifications every write sends, and
rebuilds the index itself when a notification names a release or policy version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Iterable, Sequence

import msgspec
from sqlalchemy import Engine

from casset_rights.decisions.changes import ChangeListener, Follower
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
    """A resource that exists, with the release it belongs to and its policy chain;
    ``title`` is the title attribution uses for it."""

    ref: ResourceRef
    release: ReleaseEntry
    chain: tuple[CompiledPolicy, ...]
    title: str = ""


_REMEMBERED = 200_000  # resolved resources kept per snapshot before starting again


class _Snapshot(msgspec.Struct, frozen=True):
    releases: dict[str, ReleaseEntry]
    policies: dict[str, CompiledPolicy]
    generation: tuple[int, int]
    # What ``resolve`` answered, by resource (a snapshot never changes, so neither do
    # these; a new snapshot starts empty).
    resolved: dict[ResourceRef, Resolved] = {}


_INDEX_TABLES = frozenset({"release_versions", "policy_versions"})
_NEVER = object()  # the generation of a follower not loaded yet


class RightsIndex:
    def __init__(self, *, catalog: CatalogService, policies: PolicyStore,
                 followers: Sequence[Follower] = (), engine: Engine | None = None,
                 refresh_seconds: float = 1.0) -> None:
        """``engine`` is where ``followers`` read (its dialect chooses how they are kept
        fresh); without followers it may be left out."""
        self._catalog = catalog
        self._policies = policies
        self._followers = tuple(followers)
        self._engine = engine
        self._notified = engine is not None and engine.dialect.name == "postgresql"
        self._followed: dict[Follower, Hashable] = {}
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(releases={}, policies={}, generation=(-1, -1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: ChangeListener | None = None

    # -- building -----------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Rebuild when the stored generations moved (or always with ``force``), and
        reload the followers whose generation moved (all of them with ``force``; on
        PostgreSQL only then or the first time: notifications keep them fresh). Returns
        whether the index itself was rebuilt."""
        self._refresh_followers(force=force)
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

    def _refresh_followers(self, *, force: bool) -> None:
        for follower in self._followers:
            if self._notified and not force and follower in self._followed:
                continue  # loaded once: notifications keep it fresh
            assert self._engine is not None
            with self._engine.connect() as conn:
                generation = follower.generation(conn)
            if force or self._followed.get(follower, _NEVER) != generation:
                follower.reload()
                self._followed[follower] = generation

    def _changed(self, table: str, key: str) -> None:
        """A notification (PostgreSQL): rebuild what it names."""
        if table in _INDEX_TABLES:
            self.refresh()
            return
        for follower in self._followers:
            if table in follower.tables:
                follower.reload_key(table, key)

    def _reconnected(self) -> None:
        for follower in self._followers:
            follower.reload()
        self.refresh()

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
        """Watch for writes from other processes (and, on PostgreSQL, listen for them)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="rights-index", daemon=True)
            self._thread.start()
        if self._notified and self._listener is None:
            assert self._engine is not None
            self._listener = ChangeListener(self._engine, on_change=self._changed,
                                            on_connected=self._reconnected)
            self._listener.start()

    def listening(self, timeout: float) -> bool:
        """Whether notifications are being heard (waits up to ``timeout`` seconds for
        the listener to connect; True at once where none is needed)."""
        return self._listener is None or self._listener.connected.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; waits up to ``timeout`` seconds for each thread to let go of
        its connection."""
        self._stop.set()
        if self._listener is not None:
            self._listener.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

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
        found = snap.resolved.get(ref)
        if found is None:
            found = self._resolve(snap, ref)
            if len(snap.resolved) >= _REMEMBERED:
                snap.resolved.clear()
            snap.resolved[ref] = found
        return found

    @staticmethod
    def _resolve(snap: _Snapshot, ref: ResourceRef) -> Resolved:
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
        return Resolved(ref=ref, release=release, chain=chain,
                        title=release.titles.get(ref.path, release.title))

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
