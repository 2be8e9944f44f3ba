"""Hierarchical resource ids: ``release:R``, ``track:R/T``, ``hook:R/T/H``.

A hook id names its track and release (``hook:midnight-tapes/1/chorus`` is hook
``chorus`` of track ``1`` of release ``midnight-tapes``), so a policy's target and a
request's resource can be compared without the catalog. Segments use the manifest rule:
1 to 64 of lowercase letters, digits, ``-``, ``_`` and ``.``, starting with a letter or
digit.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

import msgspec

from casset_rights.errors import InvalidInput

ResourceKind = Literal["release", "track", "hook"]
RESOURCE_KINDS: tuple[ResourceKind, ...] = ("release", "track", "hook")
# Policy levels, general to specific; a resource of kind k sits at level index(k) + 1.
Level = Literal["artist", "release", "track", "hook"]
LEVELS: tuple[Level, ...] = ("artist", "release", "track", "hook")

_SEGMENT = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class ResourceRef(msgspec.Struct, frozen=True):
    """A parsed resource id. ``track_id``/``hook_id`` are ``None`` above their level."""

    kind: ResourceKind
    release_id: str
    track_id: str | None = None
    hook_id: str | None = None

    @property
    def id(self) -> str:
        """The typed id, ``kind:path`` (``parse_resource(ref.id) == ref``)."""
        return f"{self.kind}:{self.path}"

    @property
    def path(self) -> str:
        """The bare id: ``R``, ``R/T`` or ``R/T/H``."""
        return "/".join(s for s in (self.release_id, self.track_id, self.hook_id) if s)

    @property
    def level(self) -> int:
        """1 for a release, 2 for a track, 3 for a hook (0 is the artist level)."""
        return RESOURCE_KINDS.index(self.kind) + 1

    def ancestors(self) -> tuple[ResourceRef, ...]:
        """The release, track and hook refs from the top down to and including this one."""
        out = [ResourceRef("release", self.release_id)]
        if self.track_id is not None:
            out.append(ResourceRef("track", self.release_id, self.track_id))
        if self.hook_id is not None:
            out.append(ResourceRef("hook", self.release_id, self.track_id, self.hook_id))
        return tuple(out)

    def contains(self, other: ResourceRef) -> bool:
        """Whether ``other`` is this resource or lies below it (a hook of this track...)."""
        return (self.release_id == other.release_id
                and (self.track_id is None or self.track_id == other.track_id)
                and (self.hook_id is None or self.hook_id == other.hook_id))

    def __str__(self) -> str:
        return self.id


def is_segment(value: object) -> bool:
    """Whether ``value`` is a valid id segment (also used for artist, policy, rule ids)."""
    return isinstance(value, str) and _SEGMENT.fullmatch(value) is not None


def parse_resource(value: str) -> ResourceRef:
    """Parse ``release:R``, ``track:R/T`` or ``hook:R/T/H`` (or the bare path ``R/T/H``,
    the kind then following from the number of segments).

    Raises InvalidInput when the text names no resource: an unknown kind, a kind that
    disagrees with the number of segments, or a malformed segment.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"a resource id is a string, not {type(value).__name__}")
    return _parse_resource(value)


@functools.lru_cache(maxsize=8192)
def _parse_resource(value: str) -> ResourceRef:
    # Requests name the same resources again and again; a ref is immutable, so the
    # parsed one is shared (errors are raised afresh each time: they are not cached).
    kind, sep, path = value.partition(":")
    if not sep:
        kind, path = "", value
    segments = path.split("/")
    if not 1 <= len(segments) <= 3 or not all(is_segment(s) for s in segments):
        raise InvalidInput(
            f"{value!r} is not a resource id (release:R, track:R/T or hook:R/T/H; segments "
            "of 1 to 64 lowercase letters, digits, '-', '_' or '.')")
    implied = RESOURCE_KINDS[len(segments) - 1]
    if kind and kind != implied:
        if kind not in RESOURCE_KINDS:
            raise InvalidInput(f"{value!r}: unknown resource kind {kind!r}")
        raise InvalidInput(
            f"{value!r}: a {kind} id has {RESOURCE_KINDS.index(kind) + 1} segment(s)")
    padded: list[str | None] = [*segments, None, None]
    return ResourceRef(implied, segments[0], padded[1], padded[2])


def parse_target(value: str) -> ResourceRef | None:
    """Parse a policy's ``applies_to``: ``artist`` (``None``) or a typed resource id.

    Raises InvalidInput for anything else (a bare path is not a target).
    """
    if value == "artist":
        return None
    if ":" not in value:
        raise InvalidInput(f"applies_to {value!r} is 'artist' or release:R, track:R/T, hook:R/T/H")
    return parse_resource(value)
