"""Catalog reads from memory: release versions are immutable, named by their hash.

A stored version never changes, so once read it is kept (up to ``limit`` versions, the
least recently used forgotten first). Which version is a release's head comes from the
rights index, which follows every write (``decisions.changes``); the head's tracks and
hooks are read from its manifest. So a read of a release, a version, a track or a hook
goes to the database only the first time that version is asked for.

Every answer carries the hash of the manifest version it comes from (``manifest_hash``),
which the HTTP layer uses as a strong validator, and keeps its encoded answers here by
that validator (``remembered``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import msgspec
from msgspec import UnsetType

from casset_rights.decisions.index import RightsIndex
from casset_rights.errors import UnknownResource
from casset_rights.manifests.catalog import CatalogService
from casset_rights.manifests.models import Hook
from casset_rights.manifests.records import HookRecord, StoredVersion, TrackRecord, VersionInfo


class TrackView(msgspec.Struct, frozen=True):
    track: TrackRecord
    hooks: tuple[HookRecord, ...]
    manifest_hash: str


class HookView(msgspec.Struct, frozen=True):
    hook: HookRecord
    manifest_hash: str


class CatalogView:
    def __init__(self, *, catalog: CatalogService, index: RightsIndex,
                 limit: int = 4096) -> None:
        self._catalog = catalog
        self._index = index
        self._limit = limit
        self._versions: OrderedDict[tuple[str, int], StoredVersion] = OrderedDict()
        self._histories: dict[str, tuple[VersionInfo, ...]] = {}
        self._encoded: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def remembered(self, key: bytes, make: Callable[[], bytes]) -> bytes:
        """``make()``, kept under ``key`` (a validator that names one representation,
        so what it names never changes), the least recently stored forgotten first."""
        found = self._encoded.get(key)
        if found is None:
            found = make()
            with self._lock:
                self._encoded[key] = found
                while len(self._encoded) > self._limit:
                    self._encoded.popitem(last=False)
        return found

    def head(self, release_id: str) -> StoredVersion:
        """The head version. Raises UnknownResource for a release the index does not know."""
        return self.version(release_id, self._index.release(release_id).version)

    def version(self, release_id: str, number: int) -> StoredVersion:
        """Version ``number``. Raises UnknownResource (release) or NotFound (version)."""
        key = (release_id, number)
        found = self._versions.get(key)
        if found is None:
            found = self._catalog.version(release_id, number)
            with self._lock:
                self._versions[key] = found
                while len(self._versions) > self._limit:
                    self._versions.popitem(last=False)
        return found

    def history(self, release_id: str) -> tuple[VersionInfo, ...]:
        """Every version, oldest first (read again once the index has a newer head).
        Raises UnknownResource."""
        head = self._index.release(release_id).manifest_hash
        found = self._histories.get(release_id)
        if found is None or found[-1].hash != head:
            found = self._catalog.history(release_id)
            with self._lock:
                if len(self._histories) >= self._limit:
                    self._histories.clear()
                self._histories[release_id] = found
        return found

    def track(self, release_id: str, local_id: str) -> TrackView:
        """A track of the head, with its hooks. Raises UnknownResource."""
        head = self.head(release_id)
        for position, track in enumerate(head.manifest.tracks):
            if track.id == local_id:
                record = TrackRecord(
                    id=f"{release_id}/{track.id}", release_id=release_id,
                    artist_id=head.artist_id, local_id=track.id, position=position,
                    title=track.title, isrc=_given(track.isrc), duration_ms=track.duration_ms,
                    audio_hash=track.audio.content_hash, media_type=track.audio.media_type)
                hooks = tuple(_hook(head, track.id, n, h) for n, h in enumerate(track.hooks))
                return TrackView(track=record, hooks=hooks, manifest_hash=head.hash)
        raise UnknownResource(f"no track {release_id}/{local_id!r}")

    def hook(self, release_id: str, track_id: str, local_id: str) -> HookView:
        """A hook of a head track. Raises UnknownResource."""
        view = self.track(release_id, track_id)
        for hook in view.hooks:
            if hook.local_id == local_id:
                return HookView(hook=hook, manifest_hash=view.manifest_hash)
        raise UnknownResource(f"no hook {release_id}/{track_id}/{local_id!r}")


def _hook(head: StoredVersion, track_id: str, position: int, hook: Hook) -> HookRecord:
    rid = head.release_id
    return HookRecord(id=f"{rid}/{track_id}/{hook.id}", track_id=f"{rid}/{track_id}",
                      release_id=rid, artist_id=head.artist_id, local_id=hook.id,
                      position=position, start_ms=hook.start_ms, end_ms=hook.end_ms,
                      caption=hook.caption, lyric=_given(hook.lyric))


def _given(value: str | None | UnsetType) -> str | None:
    return None if isinstance(value, UnsetType) else value
