"""Canonical JSON (RFC 8785, JCS) and the content hashes that name documents.

A manifest, a policy version or any signed payload is named by
``sha256:`` + the hex SHA-256 of its RFC 8785 canonical bytes, so two parties that hold
the same document always compute the same name, whatever key order or number spelling
their JSON had.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import rfc8785

HASH_PREFIX = "sha256:"


def canonical_bytes(document: Any) -> bytes:
    """The RFC 8785 canonical bytes of a JSON-compatible value.

    ``msgspec.Struct`` values are converted to builtins first. Raises ``ValueError`` for
    values JSON cannot carry (NaN, infinities, integers beyond IEEE 754 doubles).
    """
    if isinstance(document, msgspec.Struct):
        document = msgspec.to_builtins(document)
    try:
        return rfc8785.dumps(document)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"not canonicalizable as JSON: {exc}") from exc


def content_hash(document: Any) -> str:
    """``sha256:<hex>`` of the canonical bytes of ``document``."""
    return HASH_PREFIX + hashlib.sha256(canonical_bytes(document)).hexdigest()
