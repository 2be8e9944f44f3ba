"""Loading a folder of manifests (and an ``artists.json``) into the catalog.

Every ``*.json`` file under the folder is a manifest, except ``artists.json`` files,
which list artists: ``[{"id": "nightglass", "display_name": "Nightglass"}, ...]``.
Loading is idempotent: documents already stored are returned with ``created`` False.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from casset_rights.errors import (
    FieldError,
    InvalidInput,
    LimitExceeded,
    MalformedInput,
    ManifestInvalid,
)
from casset_rights.limits import DOCUMENT_LIMITS, InputLimits, check_size, decode_json
from casset_rights.manifests.records import Artist, StoredVersion
from casset_rights.manifests.validation import validate_manifest

if TYPE_CHECKING:  # catalog.py re-exports this module's functions
    from casset_rights.manifests.catalog import CatalogService

ARTISTS_FILE = "artists.json"


class _ArtistEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    display_name: str


def load_catalog_directory(service: CatalogService, path: Path | str, *,
                           limits: InputLimits = DOCUMENT_LIMITS) -> list[StoredVersion]:
    """Store every manifest under ``path``: all versions 1 first, then 2, and so on.

    Artists files are applied first. Every manifest is validated before any is stored,
    so a bad file stores nothing. Each file is read under ``limits`` (size, nesting,
    64-bit integers, each key once). Raises ManifestInvalid naming the first bad file
    (its ``errors`` located in that file), InvalidInput for a bad artists file, and
    StaleVersion or Conflict when a manifest does not extend what is stored.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder")
    files = sorted(p for p in folder.rglob("*.json") if p.is_file())
    for artists_file in (p for p in files if p.name == ARTISTS_FILE):
        load_artists(service, artists_file)
    documents = []
    for file in (p for p in files if p.name != ARTISTS_FILE):
        document = _read_json(file, limits)
        try:
            validate_manifest(document)
        except ManifestInvalid as exc:
            raise ManifestInvalid(f"{file}: {exc.detail}", errors=exc.errors) from None
        documents.append((document["version"], document["id"], str(file), document))
    return [service.put_version(doc) for *_, doc in sorted(documents, key=lambda d: d[:3])]


def load_artists(service: CatalogService, path: Path | str) -> list[Artist]:
    """Create or rename the artists listed in ``path``. Raises InvalidInput."""
    try:
        entries = msgspec.json.decode(Path(path).read_bytes(), type=list[_ArtistEntry])
    except (OSError, msgspec.DecodeError) as exc:
        raise InvalidInput(f"{path}: {exc}") from None
    return [service.put_artist(e.id, display_name=e.display_name) for e in entries]


def _read_json(file: Path, limits: InputLimits) -> Any:
    """Parse ``file`` under ``limits``. Raises ManifestInvalid with the line and column of
    a syntax error, or naming the limit a file goes beyond."""
    what = f"the manifest {file.name}"
    try:
        check_size(file.stat().st_size, limits, what=what)
        return decode_json(file.read_bytes(), limits, what=what)
    except MalformedInput as exc:
        raise ManifestInvalid(f"{file}: not JSON", errors=exc.errors) from None
    except LimitExceeded as exc:
        raise ManifestInvalid(f"{file}: {exc.detail}", errors=[FieldError(
            pointer="", message=f"{exc.detail} (the limit)")]) from None
