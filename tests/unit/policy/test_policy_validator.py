"""The validator: every error at once, each located by JSON Pointer and line/column;
warnings for unused routes, rules that can never match and shadowed rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from policy_helpers import document

from casset_rights.errors import PolicyInvalid
from casset_rights.policy import compile_policy, load_policy, parse, serialize, validate

POLICIES = Path(__file__).resolve().parents[3] / "policies"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

BROKEN = """\
policy: Bad_Id
artist: nightglass
applies_to: hook:a/1/x
extra: 1
rules:
  - id: r1
    permit: [remixx, quote]
    deny: [quote]
    to: [agent, robots]
    on: tracks
    when: { excerpt_seconds: { min: 30, max: 10 }, territory: { in: [us] },
            between: { from: "2025-01-01T00:00:00Z", until: "2024-01-01T00:00:00Z" } }
  - id: r1
    route: nope
    for: [sync]
    obligations: [attribute]
  - id: r3
    route: paid
  - id: r4
    to: everyone
    permit: [listen]
routes:
  paid: { type: paid, price: { amount: 10 } }
  free1: { type: free, price: { amount: 1, currency: usd } }
tests:
  - request: { action: listen, resource: hook:b/1/x }
    expect: maybe
"""

EXPECTED = {  # pointer: (line, column, words in the message)
    "/policy": (1, 9, "not a valid id"),
    "/extra": (4, 1, "unknown field 'extra'"),
    "/rules/0": (6, 5, "exactly one of permit, deny or route"),
    "/rules/0/permit/0": (7, 14, "'remixx' is not one of"),
    "/rules/0/to/1": (9, 17, "'robots' is not a valid audience"),
    "/rules/0/on": (10, 9, "never matches in a policy that applies to a hook"),
    "/rules/0/when/excerpt_seconds": (11, 30, "min 30 is greater than max 10"),
    "/rules/0/when/territory/in/0": (11, 70, "ISO 3166-1"),
    "/rules/0/when/between": (12, 22, "from must be before until"),
    "/rules/1/id": (13, 9, "duplicate rule id 'r1'"),
    "/rules/1/route": (14, 12, "unknown route 'nope'"),
    "/rules/1/obligations": (16, 18, "obligations belong to permit rules"),
    "/rules/2": (17, 5, "`for`"),
    "/rules/3/to": (20, 9, "`to` is `any` or a list"),
    "/routes/paid/term_days": (23, 9, "missing required field 'term_days'"),
    "/routes/paid/price/currency": (23, 30, "missing required field 'currency'"),
    "/routes/free1/price": (24, 24, "a free route has no price"),
    "/tests/0/request/resource": (26, 42, "governs hook:a/1/x"),
    "/tests/0/expect": (27, 13, "'maybe' is not one of"),
}


def test_every_error_is_reported_at_once_with_pointer_line_and_column() -> None:
    report = validate(BROKEN, source_name="broken.yaml", now=NOW)
    assert not report.ok and report.policy is None
    found = {e.pointer: e for e in report.errors}
    assert set(found) == set(EXPECTED)
    for pointer, (line, column, words) in EXPECTED.items():
        error = found[pointer]
        assert (error.line, error.column) == (line, column), pointer
        assert words in error.message, (pointer, error.message)
        assert error.severity == "error"
    assert [(w.pointer, w.line) for w in report.warnings] == [("/routes/free1", 24)]
    with pytest.raises(PolicyInvalid) as raised:
        load_policy(BROKEN, source_name="broken.yaml")
    assert {e.pointer for e in raised.value.errors} == set(EXPECTED)
    assert raised.value.code == "policy_invalid"


def test_json_text_is_located_too() -> None:
    text = json.dumps(document([{"id": "a", "permit": ["quote"], "to": ["robots"]}]), indent=2)
    error, = validate(text, source_name="p.json").errors
    assert error.pointer == "/rules/0/to/0"
    assert (error.line, error.column) == (text.splitlines().index('        "robots"') + 1, 9)


def test_a_parsed_document_is_located_by_pointer_only() -> None:
    error, = validate(document([{"id": "a", "permit": ["quote"], "on": "albums"}])).errors
    assert (error.pointer, error.line, error.column) == ("/rules/0/on", None, None)


@pytest.mark.parametrize(("text", "pointer", "line", "column", "words"), [
    ("policy: a\nrules:\n  - id: x\n    permit: [quote\n  - id: y\n", "/rules/0/permit/0",
     5, 7, "YAML syntax"),
    ("policy: a\npolicy: b\n", "/policy", 2, 1, "duplicate key 'policy' (first at line 1"),
    ('{"policy": "a", "rules": [], "policy": "b"}', "/policy", 1, 30, "duplicate key"),
    ('{"policy": "a", "rules": [1, ]}', "/rules/0", 1, 30, "JSON syntax"),
    ("policy: !!python/object:os.system x\n", "/policy", 1, 9, "unsupported YAML tag"),
    ("base: &b {id: x}\nrules:\n  - <<: *b\n", "/rules/0", 3, 5, "merge keys"),
    ("", "", 1, 1, "empty"),
    ("a: [1\n", "/a/0", 2, 1, "YAML syntax"),
])
def test_reading_errors_are_located(text: str, pointer: str, line: int, column: int,
                                    words: str) -> None:
    name = "p.json" if text.startswith("{") else "p.yaml"
    error, = validate(text, source_name=name).errors
    assert (error.pointer, error.line, error.column) == (pointer, line, column)
    assert words in error.message


def test_yaml_flow_style_is_not_mistaken_for_json() -> None:
    assert validate("{policy: a, artist: b, applies_to: artist, rules: []}").ok
    error, = validate('{"policy": "a", "rules": [1, ]').errors
    assert error.message.startswith("YAML syntax") and error.line == 1


def test_validate_never_raises_for_garbage() -> None:
    for source in (b"\xff\xfe", "- a\n- b\n", "null", "{}", "x" * (600 * 1024), "[1, 2]",
                   "policy: [1, {2: 3}]", "a: 1\n---\nb: 2\n"):
        assert not validate(source).ok


def test_yaml_reads_like_json_not_like_yaml_1_1() -> None:
    text = """\
policy: p
artist: nightglass
applies_to: artist
rules:
  - id: not-in-norway
    deny: [sync]
    on: hooks
    when:
      territory: { in: [NO, ON, YE] }
      between: { from: 2025-01-01T00:00:00Z }
"""
    policy = load_policy(text)
    rule = policy.rules[0]
    assert rule.on == "hooks"
    assert rule.when.territory.in_ == ("NO", "ON", "YE")
    assert rule.when.between.from_ == datetime(2025, 1, 1, tzinfo=UTC)
    bad = validate(text.replace("[NO, ON, YE]", "[yes, 010]"))
    assert [e.pointer for e in bad.errors] == ["/rules/0/when/territory/in/0",
                                               "/rules/0/when/territory/in/1"]


def test_naive_or_impossible_times_are_refused() -> None:
    naive = document([{"id": "w", "permit": ["quote"],
                       "when": {"between": {"from": "2025-01-01T00:00:00"}}}])
    assert [e.pointer for e in validate(naive).errors] == ["/rules/0/when/between/from"]
    impossible = document([{"id": "w", "permit": ["quote"],
                            "when": {"between": {"until": "2025-02-30T00:00:00Z"}}}])
    error, = validate(impossible).errors
    assert "not a real date" in error.message


def test_attribution_placeholders_are_checked() -> None:
    error, = validate(document([], attribution="{title} by {band}")).errors
    assert error.pointer == "/attribution" and "band" in error.message


def test_partners_only_on_partner_routes_and_route_fields_by_type() -> None:
    doc = document([{"id": "r", "route": "a", "for": ["sync"]},
                    {"id": "s", "route": "b", "for": ["sync"]},
                    {"id": "t", "route": "c", "for": ["sync"]}],
                   routes={"a": {"type": "request", "note": "x", "partners": ["p"]},
                           "b": {"type": "partner"}, "c": {"type": "request"}})
    assert {(e.pointer, e.message) for e in validate(doc).errors} == {
        ("/routes/a/partners", "only a partner route names partners"),
        ("/routes/b/partners", "missing required field 'partners'"),
        ("/routes/c/note", "missing required field 'note'")}


def test_test_resources_must_lie_under_applies_to() -> None:
    tests = [{"request": {"action": "quote", "resource": "hook:midnight-tapes/2/intro"},
              "expect": "deny"},
             {"request": {"action": "quote", "resource": "hook:midnight-tapes/1/intro"},
              "expect": "deny"}]
    error, = validate(document([], level=2, tests=tests)).errors
    assert error.pointer == "/tests/0/request/resource"


# --- warnings ----------------------------------------------------------------------------

def warnings_of(rules: list[dict], **kwargs: object) -> list[tuple[str, str]]:
    report = validate(document(rules, **kwargs), now=NOW)
    assert report.ok, report.errors
    return [(w.pointer, w.message) for w in report.warnings]


def test_unused_routes_warn() -> None:
    found = warnings_of([], routes={"spare": {"type": "free"}})
    assert found == [("/routes/spare", "route 'spare' is not used by any rule")]


def test_a_time_window_that_is_over_can_never_match() -> None:
    rules = [{"id": "old", "permit": ["quote"],
              "when": {"between": {"until": "2025-06-01T00:00:00Z"}}},
             {"id": "current", "permit": ["quote"],
              "when": {"between": {"until": "2026-06-01T00:00:00Z"}}}]
    (pointer, message), = warnings_of(rules)
    assert pointer == "/rules/0/when/between/until" and "never match" in message


def test_an_audience_nobody_can_be_warns() -> None:
    rules = [{"id": "p", "permit": ["quote"],
              "to": [{"kind": "public", "attributes": {"verified": True}}]}]
    assert sorted(p for p, _ in warnings_of(rules)) == ["/rules/0/to", "/rules/0/to/0"]


@pytest.mark.parametrize(("deny", "shadowed"), [
    ({"deny": ["remix", "sample"]}, True),
    ({"deny": ["remix"]}, False),  # sample still permitted
    ({"deny": ["remix", "sample"], "to": ["agent", "partner"]}, True),
    ({"deny": ["remix", "sample"], "to": ["agent"]}, False),  # partners still permitted
    ({"deny": ["remix", "sample"], "when": {"purpose": "commercial"}}, False),
    ({"deny": ["remix", "sample"], "on": "tracks"}, False),
    ({"deny": ["remix", "sample"], "on": "hooks"}, True),
])
def test_permits_shadowed_by_an_unconditional_deny(deny: dict, shadowed: bool) -> None:
    rules = [{"id": "fun", "permit": ["remix", "sample"], "to": ["agent", "partner"],
              "on": "hooks"}, {"id": "no", **deny}]
    found = warnings_of(rules)
    assert (found == [("/rules/0", "rule 'fun' never applies: its scopes are denied by rule(s) "
                                   "no for the same audience")]) is shadowed
    assert shadowed or found == []


def test_a_route_behind_an_unconditional_permit_warns() -> None:
    rules = [{"id": "free", "permit": ["remix"], "to": "any"},
             {"id": "paid", "route": "r", "for": ["remix"], "to": ["agent"]}]
    routes = {"r": {"type": "paid", "price": {"amount": 1, "currency": "usd"}, "term_days": 1}}
    (pointer, message), = warnings_of(rules, routes=routes)
    assert pointer == "/rules/1" and "permitted outright by rule(s) free" in message


def test_attribute_audiences_are_covered_by_kind_or_fewer_attributes() -> None:
    rules = [{"id": "p", "permit": ["quote"],
              "to": [{"kind": "partner", "attributes": {"tier": "gold", "verified": True}}]},
             {"id": "d", "deny": ["quote"], "to": [{"attributes": {"tier": "gold"}}]}]
    assert [p for p, _ in warnings_of(rules)] == ["/rules/0"]


# --- parse, serialize, hashes ------------------------------------------------------------

def test_parse_checks_the_schema_but_not_the_semantics() -> None:
    doc = document([{"id": "a", "route": "missing", "for": ["sync"]}])
    policy = parse(doc)
    with pytest.raises(PolicyInvalid):
        compile_policy(policy)
    with pytest.raises(PolicyInvalid):
        load_policy(doc)
    with pytest.raises(PolicyInvalid):
        parse({"policy": "a"})


def test_the_shipped_policies_round_trip_and_hash_alike_as_yaml_and_json() -> None:
    for path in sorted(POLICIES.glob("*.yaml")):
        policy = load_policy(path.read_text(encoding="utf-8"), source_name=str(path))
        document_ = serialize(policy)
        assert parse(document_) == policy
        as_json = json.dumps(document_, indent=1, sort_keys=True)
        again = load_policy({"$schema": "../schemas/policy.schema.json", **document_})
        assert compile_policy(load_policy(as_json, source_name="x.json")).hash \
            == compile_policy(again).hash == compile_policy(policy).hash
        assert validate(path.read_text(encoding="utf-8"), now=NOW).warnings == ()


def test_the_design_sketch_is_a_valid_policy() -> None:
    sketch = (POLICIES / "nightglass.yaml").read_text(encoding="utf-8")
    assert sketch.startswith("# yaml-language-server: $schema=../schemas/policy.schema.json")
