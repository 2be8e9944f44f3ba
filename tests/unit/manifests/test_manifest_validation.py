"""The validator: schema and semantic errors, all at once, each with a JSON Pointer."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from jsonschema import Draft202012Validator
from manifest_strategies import manifests

from casset_rights.errors import ManifestInvalid
from casset_rights.manifests import manifest_schema, to_document, validate_manifest
from casset_rights.manifests.validation import exact_number


def good() -> dict[str, Any]:
    return {
        "id": "midnight-tapes", "version": 1, "previous": None, "artist": "nightglass",
        "title": "Midnight Tapes", "policy": "nightglass-midnight-tapes",
        "created_at": "2024-03-15T09:00:00Z", "visuals": [],
        "tracks": [{
            "id": "1", "title": "Midnight Tapes", "isrc": "GBNGL2400101", "duration_ms": 214000,
            "audio": {"content_hash": "sha256:" + "a" * 64, "media_type": "audio/flac"},
            "credits": [{"name": "Ines Varga", "roles": ["performer", "composer"], "split": 55},
                        {"name": "Theo Lund", "roles": ["producer"], "split": 45}],
            "hooks": [{"id": "chorus", "start_ms": 58000, "end_ms": 88000,
                       "caption": "Chorus", "lyric": "Play it back"}],
        }],
    }


def errors_of(document: Any) -> dict[str, str]:
    with pytest.raises(ManifestInvalid) as caught:
        validate_manifest(document)
    assert caught.value.code == "manifest_invalid"
    return {e.pointer: e.message for e in caught.value.errors}


def test_the_schema_is_valid_json_schema_2020_12() -> None:
    Draft202012Validator.check_schema(manifest_schema())
    assert manifest_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_a_good_manifest_validates_and_round_trips() -> None:
    manifest = validate_manifest(good())
    assert manifest.track("1").hook("chorus").end_ms == 88000
    assert to_document(manifest) == good()


def test_every_error_is_reported_at_once_with_pointers() -> None:
    doc = good()
    doc.update(id="Midnight Tapes", version=2, title="", created_at="2024-13-01T00:00:00Z",
               extra=True)
    del doc["policy"]
    track = doc["tracks"][0]
    track["credits"][1]["split"] = 44.9
    track["isrc"] = "gb-ngl-24-00101"
    track["hooks"].append({"id": "chorus", "start_ms": 90000, "end_ms": 80000, "caption": "x"})
    track["hooks"].append({"id": "outro", "start_ms": 200000, "end_ms": 215000, "caption": "y"})
    doc["tracks"].append({**copy.deepcopy(track), "hooks": [], "audio": {}})
    errors = errors_of(doc)
    assert set(errors) == {
        "/id", "/previous", "/title", "/created_at", "/extra",
        "/policy", "/tracks/0/isrc", "/tracks/0/credits", "/tracks/0/hooks/1/id",
        "/tracks/0/hooks/1/end_ms", "/tracks/0/hooks/2/end_ms", "/tracks/1/id",
        "/tracks/1/isrc", "/tracks/1/credits", "/tracks/1/audio/content_hash",
        "/tracks/1/audio/media_type",
    }
    assert errors["/policy"] == "required member is missing"
    assert errors["/extra"] == "unknown member (not in the manifest schema)"
    assert errors["/tracks/0/credits"] == "credit splits sum to 99.9, not 100"
    assert "past the track's duration_ms 214000" in errors["/tracks/0/hooks/2/end_ms"]
    assert "must be after start_ms" in errors["/tracks/0/hooks/1/end_ms"]
    assert "duplicate hook id 'chorus'" in errors["/tracks/0/hooks/1/id"]
    assert "is not a valid id segment" in errors["/id"]


def test_errors_come_in_document_order() -> None:
    doc = good()
    doc["tracks"] = [{**copy.deepcopy(doc["tracks"][0]), "id": str(n), "title": ""}
                     for n in range(1, 12)]
    with pytest.raises(ManifestInvalid) as caught:
        validate_manifest(doc)
    pointers = [e.pointer for e in caught.value.errors]
    assert pointers == [f"/tracks/{n}/title" for n in range(11)]


@pytest.mark.parametrize(("splits", "ok"), [
    ([33.3, 33.3, 33.4], True),
    ([16.75, 52.01, 31.24], True),     # as binary floats these sum to 99.99999999999999
    ([33.33, 33.33, 33.33], False),
    ([100], True), ([100.0], True), ([50, 50.000001], False), ([0, 100], True),
])
def test_credit_splits_sum_to_exactly_100(splits: list[float], ok: bool) -> None:
    doc = good()
    doc["tracks"][0]["credits"] = [{"name": f"n{k}", "roles": ["performer"], "split": s}
                                   for k, s in enumerate(splits)]
    if ok:
        validate_manifest(doc)
    else:
        assert "/tracks/0/credits" in errors_of(doc)


def test_exact_number_reads_floats_as_their_decimal_text() -> None:
    assert sum([16.75, 52.01, 31.24]) != 100
    assert sum(exact_number(x) for x in [16.75, 52.01, 31.24]) == 100


@pytest.mark.parametrize("split", [float("nan"), float("inf"), True, "50"])
def test_a_split_must_be_a_finite_number(split: Any) -> None:
    doc = good()
    doc["tracks"][0]["credits"][0]["split"] = split
    assert "/tracks/0/credits/0/split" in errors_of(doc)


@pytest.mark.parametrize(("start", "end", "ok"), [
    (0, 1, True), (0, 214000, True), (213999, 214000, True),
    (1000, 1000, False), (2000, 1000, False), (0, 214001, False),
])
def test_hook_windows_lie_inside_the_track(start: int, end: int, ok: bool) -> None:
    doc = good()
    doc["tracks"][0]["hooks"][0].update(start_ms=start, end_ms=end)
    if ok:
        validate_manifest(doc)
    else:
        assert set(errors_of(doc)) == {"/tracks/0/hooks/0/end_ms"}


def test_a_negative_start_is_a_schema_error() -> None:
    doc = good()
    doc["tracks"][0]["hooks"][0]["start_ms"] = -1
    assert set(errors_of(doc)) == {"/tracks/0/hooks/0/start_ms"}


@pytest.mark.parametrize(("version", "previous", "ok"), [
    (1, None, True), (1, "sha256:" + "b" * 64, False),
    (2, "sha256:" + "b" * 64, True), (2, None, False),
])
def test_previous_is_null_exactly_for_version_1(version: int, previous: str | None,
                                                ok: bool) -> None:
    doc = {**good(), "version": version, "previous": previous}
    if ok:
        validate_manifest(doc)
    else:
        assert set(errors_of(doc)) == {"/previous"}


def test_previous_must_be_present_and_a_hash() -> None:
    doc = good()
    del doc["previous"]
    assert errors_of(doc) == {"/previous": "required member is missing"}
    assert "/previous" in errors_of({**good(), "version": 2, "previous": "sha256:xyz"})


def test_duplicate_track_ids() -> None:
    doc = good()
    doc["tracks"].append(copy.deepcopy(doc["tracks"][0]))
    assert errors_of(doc) == {"/tracks/1/id": "duplicate track id '1' (first at /tracks/0)"}


def test_the_same_hook_id_on_two_tracks_is_fine() -> None:
    doc = good()
    doc["tracks"].append({**copy.deepcopy(doc["tracks"][0]), "id": "2"})
    validate_manifest(doc)


@pytest.mark.parametrize("bad_id", ["a\n", "A", "-a", "a/b", "", "a" * 65])
def test_ids_are_segments(bad_id: str) -> None:
    assert "/tracks/0/hooks/0/id" in errors_of(
        json.loads(json.dumps(good()).replace('"chorus"', json.dumps(bad_id))))


def test_optional_members_keep_absent_apart_from_null() -> None:
    doc = good()
    del doc["tracks"][0]["hooks"][0]["lyric"]
    del doc["tracks"][0]["isrc"]
    assert to_document(validate_manifest(doc)) == doc
    doc["tracks"][0]["isrc"] = None
    assert to_document(validate_manifest(doc)) == doc


def test_integral_floats_count_as_integers() -> None:
    doc = good()
    doc["tracks"][0]["duration_ms"] = 214000.0
    assert validate_manifest(doc).tracks[0].duration_ms == 214000
    doc["tracks"][0]["duration_ms"] = 214000.5
    assert "/tracks/0/duration_ms" in errors_of(doc)


@pytest.mark.parametrize("document", [None, [], "manifest", 3])
def test_a_non_object_is_one_error_at_the_root(document: Any) -> None:
    assert set(errors_of(document)) == {""}


def test_created_at_is_rfc_3339() -> None:
    for value in ["2024-03-15T09:00:00+01:00", "2024-03-15T09:00:00.123Z"]:
        validate_manifest({**good(), "created_at": value})
    for value in ["2024-03-15", "2024-03-15 09:00:00Z", "2024-02-30T00:00:00Z"]:
        assert "/created_at" in errors_of({**good(), "created_at": value})


@given(manifests())
def test_generated_manifests_validate(document: dict[str, Any]) -> None:
    validate_manifest(document)
