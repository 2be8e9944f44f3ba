"""Global ids of tracks (``R/T``) and hooks (``R/T/H``) from a manifest's local ids.

Parsing typed references (``release:R``, ``track:R/T``, ``hook:R/T/H``) lives in
``casset_rights.resources``, shared with the policy engine.
"""

from __future__ import annotations

from casset_rights.resources import RESOURCE_KINDS, ResourceKind, ResourceRef, is_segment

__all__ = ["RESOURCE_KINDS", "ResourceKind", "ResourceRef", "hook_id", "is_segment", "track_id"]


def track_id(release_id: str, local_id: str) -> str:
    """The global id of track ``local_id`` of ``release_id``."""
    return f"{release_id}/{local_id}"


def hook_id(release_id: str, track_local_id: str, hook_local_id: str) -> str:
    """The global id of hook ``hook_local_id`` of a track."""
    return f"{release_id}/{track_local_id}/{hook_local_id}"
