"""Properties of the manifest hash: RFC 8785 canonical bytes, then SHA-256."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from manifest_strategies import json_objects, json_values, manifests

from casset_rights.canonical import canonical_bytes
from casset_rights.manifests import manifest_bytes, manifest_hash, to_document, validate_manifest

# The worked example of docs/manifests.md: a golden vector, so the docs stay true.
WORKED_EXAMPLE = {
    "id": "demo", "version": 1, "previous": None, "artist": "nightglass",
    "title": "Demo", "policy": "nightglass-default", "created_at": "2024-03-15T09:00:00Z",
    "visuals": [],
    "tracks": [{
        "id": "1", "title": "Demo", "duration_ms": 60000,
        "audio": {"content_hash": "sha256:" + "0" * 64, "media_type": "audio/flac"},
        "credits": [{"name": "Ines Varga", "roles": ["performer"], "split": 100}],
        "hooks": [{"id": "chorus", "start_ms": 15000, "end_ms": 45000, "caption": "Chorus"}],
    }],
}
WORKED_BYTES = (
    b'{"artist":"nightglass","created_at":"2024-03-15T09:00:00Z","id":"demo",'
    b'"policy":"nightglass-default","previous":null,"title":"Demo","tracks":[{"audio":'
    b'{"content_hash":"sha256:0000000000000000000000000000000000000000000000000000000000000000",'
    b'"media_type":"audio/flac"},"credits":[{"name":"Ines Varga","roles":["performer"],'
    b'"split":100}],"duration_ms":60000,"hooks":[{"caption":"Chorus","end_ms":45000,'
    b'"id":"chorus","start_ms":15000}],"id":"1","title":"Demo"}],"version":1,"visuals":[]}'
)
WORKED_HASH = "sha256:d725e87eef59f01e13c2bbf5a6f7ce509f547432ed77c3141d12a3e6a0552c7f"


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def test_worked_example_is_a_golden_vector() -> None:
    assert manifest_bytes(WORKED_EXAMPLE) == WORKED_BYTES
    assert manifest_hash(WORKED_EXAMPLE) == WORKED_HASH
    assert "sha256:" + hashlib.sha256(WORKED_BYTES).hexdigest() == WORKED_HASH


@given(json_objects, st.randoms(use_true_random=False))
def test_hash_ignores_key_order(document: dict[str, Any], rng: random.Random) -> None:
    assert manifest_hash(shuffled(document, rng)) == manifest_hash(document)


@given(json_objects, st.sampled_from([None, 0, 2, "\t"]), st.booleans(), st.booleans())
def test_hash_survives_reserialisation(document: dict[str, Any], indent: int | str | None,
                                       sort_keys: bool, ascii_only: bool) -> None:
    text = json.dumps(document, indent=indent, sort_keys=sort_keys, ensure_ascii=ascii_only)
    assert manifest_hash(json.loads(text)) == manifest_hash(document)
    assert manifest_hash(msgspec.json.decode(msgspec.json.encode(document))) == \
        manifest_hash(document)


@given(json_objects)
def test_canonical_bytes_are_json_that_round_trips(document: dict[str, Any]) -> None:
    raw = canonical_bytes(document)
    # JSON numbers are IEEE doubles: 2.046579237221255e+16 is written 20465792372212550,
    # which only reads back as the same number when read as a double.
    decoded = json.loads(raw.decode("utf-8"), parse_int=float)
    assert decoded == document
    assert canonical_bytes(decoded) == raw
    assert b"\n" not in raw  # RFC 8785 escapes control characters and adds no whitespace


@settings(max_examples=150)
@given(st.lists(json_values, min_size=2, max_size=20))
def test_distinct_documents_have_distinct_hashes(values: list[Any]) -> None:
    by_bytes = {canonical_bytes({"v": v}) for v in values}
    by_hash = {manifest_hash({"v": v}) for v in values}
    assert len(by_hash) == len(by_bytes)


@given(manifests())
def test_a_manifest_and_its_document_hash_alike(document: dict[str, Any]) -> None:
    manifest = validate_manifest(document)
    assert to_document(manifest) == document
    assert manifest_hash(manifest) == manifest_hash(document)
    assert manifest_bytes(manifest) == manifest_bytes(document)


@given(manifests(), st.randoms(use_true_random=False))
def test_a_reordered_manifest_validates_to_the_same_hash(document: dict[str, Any],
                                                         rng: random.Random) -> None:
    assert manifest_hash(validate_manifest(shuffled(document, rng))) == manifest_hash(document)


@given(manifests())
def test_any_content_change_changes_the_hash(document: dict[str, Any]) -> None:
    changed = json.loads(json.dumps(document))
    changed["tracks"][0]["duration_ms"] += 1
    retitled = {**document, "title": document["title"] + "!"}
    assert len({manifest_hash(document), manifest_hash(changed), manifest_hash(retitled)}) == 3


def test_number_spelling_does_not_change_the_hash() -> None:
    assert manifest_hash({"split": 100}) == manifest_hash({"split": 100.0})
    assert manifest_hash({"split": 33.3}) == manifest_hash(json.loads('{"split": 3.33e1}'))
