"""Validating a manifest document: the JSON Schema, then the rules a schema cannot state.

``validate_manifest`` reports every error at once, each located by an RFC 6901 JSON
Pointer into the submitted document. Semantic rules run on every part of the document
that is well-formed enough to check, so one submission shows all that is wrong with it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, TypeGuard

import msgspec
from jsonschema import Draft202012Validator, ValidationError, validators

from casset_rights.canonical import canonical_bytes
from casset_rights.errors import FieldError, ManifestInvalid
from casset_rights.manifests.models import Manifest

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "manifest.schema.json"
HUNDRED = Decimal(100)


def validate_manifest(document: Any) -> Manifest:
    """Check ``document`` (parsed JSON) against the schema and the manifest rules.

    Returns the ``Manifest``; ``to_document`` of it equals ``document``. Raises
    ManifestInvalid whose ``errors`` hold every FieldError, sorted by pointer.
    """
    errors = [*_schema_errors(document), *_semantic_errors(document)]
    if not errors:
        try:
            canonical_bytes(document)
        except ValueError as exc:  # e.g. a lone surrogate in a string
            errors.append(FieldError(pointer="", message=str(exc)))
    if errors:
        errors = sorted(set(errors), key=lambda e: (_pointer_key(e.pointer), e.message))
        raise ManifestInvalid(f"the manifest has {len(errors)} error(s)", errors=errors)
    # Not strict: JSON Schema counts 3.0 as an integer, and so does RFC 8785 (it writes 3).
    return msgspec.convert(document, Manifest, strict=False)


def exact_number(value: int | float) -> Decimal:
    """The decimal a JSON number denotes, for exact sums of credit splits.

    A float is read through ``repr`` (the shortest text that round-trips, which is also
    how RFC 8785 writes it), so ``33.3`` is the decimal 33.3 and not the binary double
    nearest to it: 33.3 + 33.3 + 33.4 is exactly 100.
    """
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


@cache
def manifest_schema() -> dict[str, Any]:
    """The manifest JSON Schema (``schemas/manifest.schema.json``)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    # Python's ``$`` also matches before a final newline, so "abc\n" would pass
    # ``^[a-z]+$``; in ECMA-262, which JSON Schema patterns follow, ``$`` is the very end.
    if not validator.is_type(instance, "string"):
        return
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    if re.search(pattern, instance) is None:
        what = schema.get("title") or f"text matching {schema['pattern']}"
        yield ValidationError(f"{instance!r} is not a valid {what}")


@cache
def _validator() -> Any:
    # types-jsonschema leaves ``extend`` unannotated.
    cls = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _pattern})
    return cls(manifest_schema())


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _pointer_key(pointer: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in pointer.split("/")[1:])


def _schema_errors(document: Any) -> Iterator[FieldError]:
    for error in _validator().iter_errors(document):
        base = _pointer(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    yield FieldError(pointer=f"{base}{_pointer([name])}",
                                     message="required member is missing")
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            for name in error.instance:
                if name not in known:
                    yield FieldError(pointer=f"{base}{_pointer([name])}",
                                     message="unknown member (not in the manifest schema)")
        else:
            yield FieldError(pointer=base, message=error.message)


def _semantic_errors(doc: Any) -> Iterator[FieldError]:
    if not isinstance(doc, dict):
        return
    version, previous = doc.get("version"), doc.get("previous", ...)
    if isinstance(version, int) and previous is not ...:
        if version == 1 and previous is not None:
            yield FieldError(pointer="/previous", message="version 1 has no previous (null)")
        elif version > 1 and previous is None:
            yield FieldError(pointer="/previous",
                             message=f"version {version} must name the hash of version "
                                     f"{version - 1} as previous")
    created_at = doc.get("created_at")
    if isinstance(created_at, str) and not _is_date_time(created_at):
        yield FieldError(pointer="/created_at", message=f"{created_at!r} is not a real date-time")
    tracks = doc.get("tracks")
    if isinstance(tracks, list):
        yield from _duplicates(tracks, "/tracks", "track")
        for i, track in enumerate(tracks):
            if isinstance(track, dict):
                yield from _track_errors(track, f"/tracks/{i}")


def _track_errors(track: dict[str, Any], at: str) -> Iterator[FieldError]:
    credits = track.get("credits")
    if isinstance(credits, list) and credits:
        yield from _split_errors(credits, f"{at}/credits")
    hooks = track.get("hooks")
    if not isinstance(hooks, list):
        return
    yield from _duplicates(hooks, f"{at}/hooks", "hook")
    duration = track.get("duration_ms")
    for j, hook in enumerate(hooks):
        if not isinstance(hook, dict):
            continue
        start, end = hook.get("start_ms"), hook.get("end_ms")
        if _is_int(start) and _is_int(end) and start >= end:
            yield FieldError(pointer=f"{at}/hooks/{j}/end_ms",
                             message=f"end_ms {end} must be after start_ms {start}")
        if _is_int(end) and _is_int(duration) and end > duration:
            yield FieldError(pointer=f"{at}/hooks/{j}/end_ms",
                             message=f"end_ms {end} is past the track's duration_ms {duration}")


def _split_errors(credits: list[Any], at: str) -> Iterator[FieldError]:
    splits = [c.get("split") if isinstance(c, dict) else None for c in credits]
    numbers = [s for s in splits if isinstance(s, int | float) and not isinstance(s, bool)]
    for k, split in enumerate(splits):
        if isinstance(split, float) and not math.isfinite(split):
            yield FieldError(pointer=f"{at}/{k}/split", message="split must be a finite number")
    if len(numbers) != len(splits) or not all(math.isfinite(n) for n in numbers):
        return  # the schema (or the check above) already located what is wrong
    total = sum((exact_number(n) for n in numbers), Decimal(0))
    if total != HUNDRED:
        yield FieldError(pointer=at, message=f"credit splits sum to {total.normalize():f}, not 100")


def _duplicates(items: list[Any], at: str, what: str) -> Iterator[FieldError]:
    first: dict[str, int] = {}
    for k, item in enumerate(items):
        local = item.get("id") if isinstance(item, dict) else None
        if not isinstance(local, str):
            continue
        if local in first:
            message = f"duplicate {what} id {local!r} (first at {at}/{first[local]})"
            yield FieldError(pointer=f"{at}/{k}/id", message=message)
        else:
            first[local] = k


def _is_int(value: object) -> TypeGuard[float]:
    """True for a whole number, 3 or 3.0, and not for a boolean."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _is_date_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
