"""The manifest hash: the name of a release version.

``sha256:`` + the hex SHA-256 of the RFC 8785 (JCS) canonical bytes of the manifest
document. Key order, whitespace and number spelling (``100`` or ``100.0``) do not change
it; any change of content does.
"""

from __future__ import annotations

from typing import Any

from casset_rights.canonical import canonical_bytes, content_hash
from casset_rights.manifests.models import Manifest


def manifest_hash(manifest: Manifest | dict[str, Any]) -> str:
    """The hash naming ``manifest`` (a ``Manifest`` or its JSON document).

    A ``Manifest`` and the document it was validated from hash alike. A document is
    hashed as given, without validation. Raises ValueError when the document holds
    values JSON cannot carry (NaN, infinities, integers beyond 2**53).
    """
    return content_hash(manifest)


def manifest_bytes(manifest: Manifest | dict[str, Any]) -> bytes:
    """The canonical bytes that ``manifest_hash`` hashes (UTF-8 JSON). Raises ValueError."""
    return canonical_bytes(manifest)
