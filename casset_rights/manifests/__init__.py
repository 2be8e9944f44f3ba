"""Release manifests and the catalog.

A manifest is one immutable version of a release (tracks, hooks, credits, visuals and the
policy that governs it), named by its hash: ``sha256:`` + hex of the RFC 8785 canonical
bytes. ``validate_manifest`` checks a document and reports every error at once;
``CatalogService`` stores versions chained through ``previous`` and answers look-ups of
releases, tracks (``R/T``) and hooks (``R/T/H``).
"""

from casset_rights.manifests.catalog import MAX_PAGE, CatalogService
from casset_rights.manifests.hashing import manifest_bytes, manifest_hash
from casset_rights.manifests.ids import ResourceRef, hook_id, is_segment, track_id
from casset_rights.manifests.loader import load_artists, load_catalog_directory
from casset_rights.manifests.models import (
    Audio,
    Credit,
    Hook,
    Manifest,
    Track,
    Visual,
    to_document,
)
from casset_rights.manifests.records import (
    Artist,
    HookRecord,
    Page,
    ReleaseSummary,
    ResolvedResource,
    StoredVersion,
    TrackRecord,
    VersionInfo,
)
from casset_rights.manifests.validation import manifest_schema, validate_manifest

__all__ = [
    "MAX_PAGE",
    "Artist",
    "Audio",
    "CatalogService",
    "Credit",
    "Hook",
    "HookRecord",
    "Manifest",
    "Page",
    "ReleaseSummary",
    "ResolvedResource",
    "ResourceRef",
    "StoredVersion",
    "Track",
    "TrackRecord",
    "VersionInfo",
    "Visual",
    "hook_id",
    "is_segment",
    "load_artists",
    "load_catalog_directory",
    "manifest_bytes",
    "manifest_hash",
    "manifest_schema",
    "to_document",
    "track_id",
    "validate_manifest",
]
