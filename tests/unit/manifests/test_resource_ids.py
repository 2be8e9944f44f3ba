"""Resource references: release R, track R/T, hook R/T/H, with or without the kind."""

from __future__ import annotations

import pytest

from casset_rights.errors import UnknownResource
from casset_rights.manifests import ResourceRef, parse_resource_ref


@pytest.mark.parametrize(("text", "expected"), [
    ("release:midnight-tapes", ResourceRef(kind="release", release="midnight-tapes")),
    ("midnight-tapes", ResourceRef(kind="release", release="midnight-tapes")),
    ("track:midnight-tapes/1", ResourceRef(kind="track", release="midnight-tapes", track="1")),
    ("midnight-tapes/1/chorus",
     ResourceRef(kind="hook", release="midnight-tapes", track="1", hook="chorus")),
])
def test_parse(text: str, expected: ResourceRef) -> None:
    ref = parse_resource_ref(text)
    assert ref == expected
    assert parse_resource_ref(str(ref)) == ref
    assert ref.id == text.partition(":")[2] or ref.id == text


@pytest.mark.parametrize("text", [
    "", "release:", "song:x", "track:midnight-tapes", "hook:a/b", "release:a/b",
    "a/b/c/d", "A", "a//b", "a/b\n", "x" * 65,
])
def test_malformed_references_name_no_resource(text: str) -> None:
    with pytest.raises(UnknownResource):
        parse_resource_ref(text)
