"""What the catalog answers with: stored versions, release summaries, tracks, hooks, pages."""

from __future__ import annotations

from typing import Any

import msgspec

from casset_rights.errors import InvalidInput
from casset_rights.manifests.ids import ResourceKind, is_segment
from casset_rights.manifests.models import Manifest


class Artist(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    display_name: str
    created_at: int


class StoredVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One immutable release version as stored.

    ``document`` is the RFC 8785 canonical JSON text that ``hash`` names. ``created_at`` is
    the manifest's own RFC 3339 time, ``stored_at`` when the catalog stored it (epoch
    seconds). ``created`` is False when a put found this exact version already stored.
    """

    release_id: str
    artist_id: str
    version: int
    hash: str
    previous: str | None
    document: str
    manifest: Manifest
    created_at: str
    stored_at: int
    created: bool = False


class VersionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A line of a release's history (no document)."""

    version: int
    hash: str
    previous: str | None
    created_at: str
    stored_at: int


class ReleaseSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    artist_id: str
    title: str
    policy_id: str
    head_version: int
    head_hash: str
    updated_at: int


class TrackRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A track of a release head. ``id`` is global (``R/T``), ``local_id`` is ``T``."""

    id: str
    release_id: str
    artist_id: str
    local_id: str
    position: int
    title: str
    isrc: str | None
    duration_ms: int
    audio_hash: str
    media_type: str


class HookRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A hook of a release head. ``id`` is global (``R/T/H``), ``track_id`` is ``R/T``."""

    id: str
    track_id: str
    release_id: str
    artist_id: str
    local_id: str
    position: int
    start_ms: int
    end_ms: int
    caption: str
    lyric: str | None


class ResolvedResource(msgspec.Struct, frozen=True, kw_only=True):
    """A resource reference resolved against the current heads.

    ``manifest_hash`` is the hash of the head version that contains the resource;
    ``track`` is set for tracks and hooks, ``hook`` for hooks.
    """

    kind: ResourceKind
    id: str
    release_id: str
    artist_id: str
    policy_id: str
    head_version: int
    manifest_hash: str
    track: TrackRecord | None = None
    hook: HookRecord | None = None

    @property
    def ref(self) -> str:
        """The typed reference, e.g. ``hook:midnight-tapes/1/chorus``."""
        return f"{self.kind}:{self.id}"


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One page of releases in id order; pass ``next_cursor`` back for the next (None: end)."""

    items: tuple[ReleaseSummary, ...]
    next_cursor: str | None


_CURSOR_PREFIX = "after:"


def encode_cursor(after_id: str) -> str:
    """A cursor meaning "the releases whose id sorts after ``after_id``": ``after:`` and
    the id, in plain text, so its exact shape can be stated (the OpenAPI document gives
    its pattern) and anything else refused."""
    return _CURSOR_PREFIX + after_id


def decode_cursor(cursor: str) -> str:
    """The release id a cursor continues after. Raises InvalidInput for a forged cursor."""
    after = cursor.removeprefix(_CURSOR_PREFIX)
    if not cursor.startswith(_CURSOR_PREFIX) or not is_segment(after):
        raise InvalidInput(f"invalid cursor {cursor!r}")
    return after


def track_record(row: Any) -> TrackRecord:
    return TrackRecord(id=row.id, release_id=row.release_id, artist_id=row.artist_id,
                       local_id=row.local_id, position=row.position, title=row.title,
                       isrc=row.isrc, duration_ms=row.duration_ms, audio_hash=row.audio_hash,
                       media_type=row.media_type)


def hook_record(row: Any) -> HookRecord:
    return HookRecord(id=row.id, track_id=row.track_id, release_id=row.release_id,
                      artist_id=row.artist_id, local_id=row.local_id, position=row.position,
                      start_ms=row.start_ms, end_ms=row.end_ms, caption=row.caption,
                      lyric=row.lyric)


def release_summary(row: Any) -> ReleaseSummary:
    return ReleaseSummary(id=row.id, artist_id=row.artist_id, title=row.title,
                          policy_id=row.policy_id, head_version=row.head_version,
                          head_hash=row.head_hash, updated_at=row.updated_at)
