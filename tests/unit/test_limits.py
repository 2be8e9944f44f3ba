"""The body reader (``limits.decode_json``): whatever bytes it is given, it returns the
JSON value or raises the domain's refusal, never anything else; within the limits it
reads exactly what ``json.loads`` reads."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casset_rights.errors import (
    DuplicateKey,
    InputTooDeep,
    InputTooLarge,
    IntegerOutOfRange,
    LimitExceeded,
    MalformedInput,
)
from casset_rights.limits import (
    BODY_LIMITS,
    INT64_MAX,
    INT64_MIN,
    InputLimits,
    decode_json,
    nesting_depth,
)

REFUSALS = (LimitExceeded, MalformedInput)
SMALL = InputLimits(max_bytes=64 * 1024, max_depth=8)
PROPERTIES = settings(max_examples=300, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow,
                                             HealthCheck.data_too_large])

scalars = (st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                      max_leaves=40)


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


@st.composite
def hostile_texts(draw: st.DrawFn) -> bytes:
    """JSON-ish text: deep, wide, huge integers, duplicate keys, strings full of
    brackets and escapes, and plain garbage around any of them."""
    kind = draw(st.sampled_from(["deep", "wide", "int", "dup", "strings", "garbage",
                                 "spliced"]))
    if kind == "deep":
        levels = draw(st.integers(0, 20_000))
        opener = draw(st.sampled_from([b"[", b'{"a":', b'{"":[']))
        closer = {b"[": b"]", b'{"a":': b"}", b'{"":[': b"]}"}[opener]
        return opener * levels + draw(st.sampled_from([b"1", b"", b'"x"'])) + closer * levels
    if kind == "wide":
        return b"[" + b",".join([b"[]"] * draw(st.integers(0, 20_000))) + b"]"
    if kind == "int":
        digits = draw(st.integers(1, 6000))
        return b'{"n": ' + draw(st.sampled_from([b"", b"-"])) + b"9" * digits + b"}"
    if kind == "dup":
        key = json.dumps(draw(st.text(max_size=5))).encode()
        return b"{" + key + b": 1, " + key + b": " + json.dumps(draw(values)).encode() + b"}"
    if kind == "strings":
        inner = draw(st.text(alphabet='[]{}"\\\\ux0', max_size=200))
        return json.dumps([inner, {"k": inner}]).encode()
    if kind == "garbage":
        return draw(st.binary(max_size=300))
    text = json.dumps(draw(values)).encode()
    cut = draw(st.integers(0, len(text)))
    return text[:cut] + draw(st.binary(max_size=8)) + text[cut:]


@PROPERTIES
@given(raw=hostile_texts())
def test_the_reader_only_ever_refuses_with_the_domains_errors(raw: bytes) -> None:
    try:
        value = decode_json(raw, SMALL)
    except REFUSALS:
        return
    assert depth_of(value) <= SMALL.max_depth
    assert value == json.loads(raw)


@PROPERTIES
@given(value=values)
def test_within_the_limits_it_reads_what_json_reads(value: Any) -> None:
    raw = json.dumps(value).encode()
    if depth_of(value) > SMALL.max_depth:
        with pytest.raises(InputTooDeep):
            decode_json(raw, SMALL)
        return
    assert decode_json(raw, SMALL) == value
    assert nesting_depth(raw) == depth_of(value)


@PROPERTIES
@given(value=values, spaces=st.sampled_from(["", " ", "\n\t ", "\r\n"]))
def test_the_nesting_is_measured_without_parsing(value: Any, spaces: str) -> None:
    raw = json.dumps(value, indent=spaces or None).encode()
    assert nesting_depth(raw) == depth_of(value)


def test_the_limits_and_their_refusals() -> None:
    with pytest.raises(InputTooLarge) as large:
        decode_json(b" " * (BODY_LIMITS.max_bytes + 1), BODY_LIMITS)
    assert large.value.limit == BODY_LIMITS.max_bytes and large.value.code == "body_too_large"
    with pytest.raises(InputTooDeep) as deep:
        decode_json(b"[" * 1_000_000, InputLimits(max_bytes=2_000_000, max_depth=32))
    assert deep.value.limit == 32 and deep.value.code == "body_too_deep"
    with pytest.raises(DuplicateKey):
        decode_json(b'{"a": {"b": 1, "b": 1}}', BODY_LIMITS)
    for edge in (INT64_MIN, INT64_MAX):
        assert decode_json(str(edge).encode(), BODY_LIMITS) == edge
    for beyond in (INT64_MIN - 1, INT64_MAX + 1, 10**4000):
        with pytest.raises(IntegerOutOfRange):
            decode_json(str(beyond).encode(), BODY_LIMITS)
    assert math.isclose(decode_json(b"1e308", BODY_LIMITS), 1e308)
    for malformed in (b"NaN", b"[Infinity]", b"\xef\xbb\xbf{}", b'"\xff"', b"[1,]", b""):
        with pytest.raises(MalformedInput):
            decode_json(malformed, BODY_LIMITS)


def test_brackets_inside_strings_do_not_count() -> None:
    raw = json.dumps({"a": "[[[[[[[[[[", "b": '\\"[[[[[[[[', "c": "\\\\"}).encode()
    assert nesting_depth(raw) == 1
    assert decode_json(raw, InputLimits(max_bytes=1000, max_depth=1))["c"] == "\\\\"
