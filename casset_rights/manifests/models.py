"""The release manifest as msgspec Structs.

A ``Manifest`` is built only by ``validate_manifest`` (or decoded from a stored,
already validated document). Optional members the author left out stay ``UNSET`` rather
than becoming ``None``, so ``to_document(manifest)`` gives back exactly the document that
was submitted and both hash to the same name.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Each subclass restates frozen=True: msgspec inherits it, but type checkers read the
    # class keywords of each class on its own.
    pass


class Audio(_Model, frozen=True):
    """The recording's audio: ``content_hash`` is ``sha256:<hex>`` of the audio bytes."""

    content_hash: str
    media_type: str


class Credit(_Model, frozen=True):
    """A contributor. ``split`` is the percentage of the track's royalties (0..100)."""

    name: str
    roles: tuple[str, ...]
    split: int | float


class Hook(_Model, frozen=True):
    """A window ``[start_ms, end_ms)`` of a track with its caption and optional lyric."""

    id: str
    start_ms: int
    end_ms: int
    caption: str
    lyric: str | UnsetType = UNSET


class Track(_Model, frozen=True):
    """One recording of the release; ``id`` is local to the release (``"1"``, ``"2"`` …)."""

    id: str
    title: str
    duration_ms: int
    audio: Audio
    credits: tuple[Credit, ...]
    hooks: tuple[Hook, ...]
    isrc: str | None | UnsetType = UNSET

    def hook(self, local_id: str) -> Hook | None:
        return next((h for h in self.hooks if h.id == local_id), None)


class Visual(_Model, frozen=True):
    """A reference to artwork or video: a ``kind`` (``cover``, ``video`` …) and a URI."""

    kind: str
    uri: str
    content_hash: str | UnsetType = UNSET


class Manifest(_Model, frozen=True):
    """One version of a release. ``previous`` is the manifest hash of version - 1."""

    id: str
    version: int
    previous: str | None
    artist: str
    title: str
    tracks: tuple[Track, ...]
    visuals: tuple[Visual, ...]
    policy: str
    created_at: str

    def track(self, local_id: str) -> Track | None:
        return next((t for t in self.tracks if t.id == local_id), None)


def to_document(manifest: Manifest) -> dict[str, Any]:
    """The JSON document of ``manifest``: lists for arrays, unset optional members left out."""
    return msgspec.json.decode(msgspec.json.encode(manifest), type=dict[str, Any])
