"""Resource ids: releases ``R``, tracks ``R/T`` and hooks ``R/T/H``.

Every segment matches ``SEGMENT_PATTERN``. A resource reference names one resource,
either with its kind (``release:R``, ``track:R/T``, ``hook:R/T/H``, the form receipts and
policies use) or bare, the kind then following from the number of segments.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from casset_rights.errors import UnknownResource

SEGMENT_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_SEGMENT = re.compile(SEGMENT_PATTERN)

ResourceKind = Literal["release", "track", "hook"]
KINDS: tuple[ResourceKind, ...] = ("release", "track", "hook")


def is_segment(value: object) -> bool:
    """Whether ``value`` is a valid id segment (a release, track, hook or artist id)."""
    return isinstance(value, str) and _SEGMENT.fullmatch(value) is not None


def track_id(release_id: str, local_id: str) -> str:
    """The global id of track ``local_id`` of ``release_id``."""
    return f"{release_id}/{local_id}"


def hook_id(release_id: str, track_local_id: str, hook_local_id: str) -> str:
    """The global id of hook ``hook_local_id`` of a track."""
    return f"{release_id}/{track_local_id}/{hook_local_id}"


class ResourceRef(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed reference. ``track`` and ``hook`` are local ids (``None`` above their level)."""

    kind: ResourceKind
    release: str
    track: str | None = None
    hook: str | None = None

    @property
    def id(self) -> str:
        """The global id: ``R``, ``R/T`` or ``R/T/H``."""
        return "/".join(s for s in (self.release, self.track, self.hook) if s is not None)

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


def parse_resource_ref(value: str) -> ResourceRef:
    """Parse ``kind:id`` or a bare id into a ``ResourceRef``.

    Raises UnknownResource when the text cannot name a resource: an unknown kind, a kind
    that disagrees with the number of segments, or a segment outside ``SEGMENT_PATTERN``.
    """
    kind, sep, path = value.partition(":")
    if not sep:
        kind, path = "", value
    segments = path.split("/")
    if not 1 <= len(segments) <= 3 or not all(is_segment(s) for s in segments):
        raise UnknownResource(f"{value!r} is not a resource id (release R, track R/T, hook R/T/H)")
    implied = KINDS[len(segments) - 1]
    if kind and kind not in KINDS:
        raise UnknownResource(f"{value!r}: unknown resource kind {kind!r}")
    if kind and kind != implied:
        raise UnknownResource(f"{value!r}: a {kind} id has {KINDS.index(kind) + 1} segment(s)")
    padded: list[str | None] = [*segments, None, None]
    return ResourceRef(kind=implied, release=segments[0], track=padded[1], hook=padded[2])
