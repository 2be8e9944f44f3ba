"""Resource ids and scopes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from casset_rights.errors import InvalidInput, UnknownScope
from casset_rights.policy import (
    SCOPES,
    TRAVELLING_SCOPES,
    ResourceRef,
    check_scope,
    parse_resource,
)
from casset_rights.policy.schema import policy_schema

SEGMENT = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,63}\Z")


def test_hook_id_names_its_track_and_release() -> None:
    ref = parse_resource("hook:midnight-tapes/1/chorus")
    assert ref == ResourceRef("hook", "midnight-tapes", "1", "chorus")
    assert ref.id == str(ref) == "hook:midnight-tapes/1/chorus"
    assert ref.path == "midnight-tapes/1/chorus"
    assert ref.level == 3
    assert [a.id for a in ref.ancestors()] == [
        "release:midnight-tapes", "track:midnight-tapes/1", "hook:midnight-tapes/1/chorus"]
    assert parse_resource("track:midnight-tapes/1").contains(ref)
    assert not parse_resource("track:midnight-tapes/2").contains(ref)


def test_bare_paths_take_their_kind_from_the_segment_count() -> None:
    assert parse_resource("glass-hours/2").kind == "track"
    assert parse_resource("glass-hours") == ResourceRef("release", "glass-hours")


@pytest.mark.parametrize("bad", [
    "", "release:", "hook:a/b", "track:a/b/c", "song:a", "release:A", "release:a b",
    "hook:a//c", "release:-a", "release:" + "a" * 65, "a/b/c/d", "release:a/", "release:é",
    "release:a\n", "release:\u0661", "release:a\u212a",
])
def test_malformed_ids_are_refused(bad: str) -> None:
    for _ in range(2):  # parsed ids are remembered; a refusal is given every time
        with pytest.raises(InvalidInput):
            parse_resource(bad)


@given(st.lists(SEGMENT, min_size=1, max_size=3))
def test_ids_round_trip(segments: list[str]) -> None:
    kind = ("release", "track", "hook")[len(segments) - 1]
    ref = parse_resource(f"{kind}:{'/'.join(segments)}")
    assert parse_resource(ref.id) == ref == parse_resource(str(ref)) == parse_resource(ref.path)


def test_scopes() -> None:
    assert SCOPES == ("listen", "preview", "reference", "quote", "sample", "remix",
                      "interpret", "sync", "ai-input", "ai-train")
    assert TRAVELLING_SCOPES == ("sample", "remix", "interpret", "sync", "ai-input", "ai-train")
    assert check_scope("remix") == "remix"
    with pytest.raises(UnknownScope):
        check_scope("karaoke")


def test_schema_is_valid_and_lists_exactly_the_scopes() -> None:
    Draft202012Validator.check_schema(policy_schema())
    assert tuple(policy_schema()["$defs"]["scope"]["enum"]) == SCOPES
