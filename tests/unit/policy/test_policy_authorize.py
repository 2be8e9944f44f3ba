"""The authorizer, by example: each condition, each audience form, missing context,
levels and precedence, obligations, routes, and rules that fail."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from policy_helpers import (
    AGENT,
    HOOK,
    OWNER,
    PARTNER,
    RELEASE,
    STRANGER_ARTIST,
    TRACK,
    compiled,
    decide,
    document,
)

from casset_rights.errors import InvalidInput, UnknownContextKey, UnknownScope
from casset_rights.policy import (
    Context,
    Obligation,
    Reason,
    Request,
    authorize,
    build_request,
    compile_policy,
    known_context,
    parse,
    parse_resource,
)
from casset_rights.principal import PUBLIC, Principal

PAID = {"type": "paid", "price": {"amount": 4900, "currency": "usd"}, "term_days": 365}
ASK = {"type": "request", "note": "Tell me more."}


def test_no_policy_and_an_empty_policy_deny_by_default() -> None:
    for chain in ([], [None, None, None, None], [compiled([])]):
        decision = decide(chain, "listen")
        assert decision.decision == "deny"
        assert decision.reasons == (Reason(rule="default-deny", effect="deny"),)


def test_unknown_action_is_refused() -> None:
    request = Request(action="karaoke", resource=parse_resource(HOOK))
    with pytest.raises(UnknownScope):
        authorize([compiled([])], request)
    with pytest.raises(UnknownScope):
        build_request("karaoke", HOOK)


def test_permit_carries_the_union_of_obligations_in_order() -> None:
    policy = compiled([
        {"id": "a", "permit": ["quote"], "obligations": ["link-back", "attribute"]},
        {"id": "b", "permit": ["quote", "remix"], "obligations": ["report-use"]},
    ], attribution="{title} by Nightglass ({resource}, {artist})")
    decision = authorize([policy], build_request("quote", HOOK, principal=AGENT,
                                                 title="Midnight Tapes"))
    assert decision.decision == "permit"
    assert [r.rule for r in decision.reasons] == ["a", "b"]
    assert decision.obligations == (
        Obligation(type="attribute", text=f"Midnight Tapes by Nightglass ({HOOK}, nightglass)"),
        Obligation(type="link-back"), Obligation(type="report-use"))
    only_b = decide([policy], "remix")
    assert only_b.obligations == (Obligation(type="report-use"),)


def test_attribution_falls_back_to_a_more_general_policy_then_a_default() -> None:
    artist = compiled([], attribution="{title} by Nightglass")
    hook = compiled([{"id": "q", "permit": ["quote"], "obligations": ["attribute"]}], level=3)
    text = decide([artist, None, None, hook], "quote").obligations[0].text
    assert text == f"{HOOK} by Nightglass"
    named = authorize([None, None, None, hook], build_request(
        "quote", HOOK, principal=AGENT, title="Chorus", artist_name="Nightglass"))
    assert named.obligations[0].text == "Chorus by Nightglass"


def test_routes_give_license_required_with_every_matching_route() -> None:
    policy = compiled([
        {"id": "paid", "route": "remix-license", "for": ["remix", "sample"]},
        {"id": "ask", "route": "ask-me", "for": ["remix"]},
    ], routes={"remix-license": {**PAID, "revenue_share_percent": 10, "cap": 100},
               "ask-me": ASK})
    decision = decide([policy], "remix")
    assert decision.decision == "license_required"
    assert [r.name for r in decision.license_routes] == ["ask-me", "remix-license"]
    paid = decision.license_routes[1]
    assert (paid.type, paid.price.amount, paid.price.currency, paid.term_days, paid.cap,
            paid.revenue_share_percent, paid.scopes, paid.policy) == (
        "paid", 4900, "usd", 365, 100, 10, ("sample", "remix"), "p0")
    assert paid.policy_hash == policy.hash
    assert msgspec.json.decode(msgspec.json.encode(decision))["license_routes"][0] == {
        "name": "ask-me", "policy": "p0", "policy_hash": policy.hash, "type": "request",
        "scopes": ["remix"], "note": "Tell me more."}


def test_a_permit_at_the_same_level_wins_over_a_route() -> None:
    policy = compiled([{"id": "free", "permit": ["remix"]},
                       {"id": "paid", "route": "r", "for": ["remix"]}], routes={"r": PAID})
    assert decide([policy], "remix").decision == "permit"


# --- levels and precedence -------------------------------------------------------------

def test_the_most_specific_level_that_speaks_decides() -> None:
    artist = compiled([{"id": "free", "permit": ["remix"]}])
    release = compiled([{"id": "paid", "route": "r", "for": ["remix"]}], level=1,
                       routes={"r": PAID})
    hook = compiled([{"id": "other", "permit": ["quote"]}], level=3)
    decision = decide([artist, release, None, hook], "remix")
    assert decision.decision == "license_required"
    assert decision.reasons == (Reason(policy="p1", rule="paid", effect="route", level="release"),)
    # The hook level does not speak on remix; on a track the release still decides.
    assert decide([artist, release, None], "remix", TRACK).decision == "license_required"
    assert decide([artist], "remix", RELEASE).decision == "permit"


def test_a_deny_anywhere_wins() -> None:
    artist = compiled([{"id": "no-sample", "deny": ["sample"]}])
    hook = compiled([{"id": "yes-sample", "permit": ["sample"]}], level=3)
    assert decide([artist, None, None, hook], "sample").decision == "deny"
    release = compiled([{"id": "sample-ok", "permit": ["sample"]}], level=1)
    hook_deny = compiled([{"id": "not-this-hook", "deny": ["sample"]}], level=3)
    decision = decide([None, release, None, hook_deny], "sample")
    assert decision.decision == "deny"
    assert decision.reasons == (
        Reason(policy="p3", rule="not-this-hook", effect="deny", level="hook"),)
    # every matching deny is a reason, general first
    both = decide([artist, None, None, hook_deny], "sample")
    assert [(r.level, r.rule) for r in both.reasons] == [("artist", "no-sample"),
                                                         ("hook", "not-this-hook")]


def test_the_chain_must_be_ordered_consistent_and_cover_the_resource() -> None:
    artist = compiled([])
    release = compiled([], level=1)
    with pytest.raises(InvalidInput):
        decide([release, artist], "listen")
    with pytest.raises(InvalidInput):
        decide([artist, artist], "listen")
    with pytest.raises(InvalidInput):
        decide([artist, release], "listen", "release:glass-hours")
    with pytest.raises(InvalidInput):
        decide([None, None, None, compiled([], level=3)], "listen", TRACK)
    other_artist = compile_policy(parse({**document([]), "artist": "mara-quell"}))
    with pytest.raises(InvalidInput):
        decide([other_artist, release], "listen")


# --- target filter -----------------------------------------------------------------------

@pytest.mark.parametrize(("on", "resource", "matches"), [
    ("hooks", HOOK, True), ("hooks", TRACK, False), ("tracks", TRACK, True),
    ("tracks", HOOK, False), ("releases", RELEASE, True), ("releases", TRACK, False),
])
def test_on_limits_a_rule_to_one_kind_of_resource(on: str, resource: str, matches: bool) -> None:
    policy = compiled([{"id": "r", "permit": ["remix"], "on": on}])
    assert (decide([policy], "remix", resource).decision == "permit") is matches


# --- audiences ---------------------------------------------------------------------------

@pytest.mark.parametrize(("to", "who", "matches"), [
    ("any", PUBLIC, True),
    ("any", STRANGER_ARTIST, True),
    (["public"], PUBLIC, True),
    (["public"], AGENT, False),
    (["agent", "partner"], PARTNER, True),
    (["agent"], PARTNER, False),
    (["artist"], OWNER, True),
    (["artist"], STRANGER_ARTIST, False),  # "artist" is the policy's own artist
    (["client:tidewater-radio"], PARTNER, True),
    (["client:tidewater-radio"], AGENT, False),
    (["client:bot-1"], AGENT, True),
    ([{"kind": "partner", "attributes": {"verified": True}}], PARTNER, True),
    ([{"kind": "agent", "attributes": {"verified": True}}], PARTNER, False),
    ([{"attributes": {"tier": "gold"}}], PARTNER, True),
    ([{"attributes": {"tier": "gold", "verified": True}}], PARTNER, True),
    ([{"attributes": {"tier": "silver"}}], PARTNER, False),
    ([{"attributes": {"verified": 1}}], PARTNER, False),  # true is not 1
    ([{"kind": "agent"}], AGENT, True),
    ([{"kind": "artist"}], STRANGER_ARTIST, False),
    (["public", {"attributes": {"tier": "gold"}}, "client:x"], PARTNER, True),
])
def test_audiences(to: object, who: Principal, matches: bool) -> None:
    policy = compiled([{"id": "r", "permit": ["listen"], "to": to}])
    assert (decide([policy], "listen", who=who).decision == "permit") is matches


# --- conditions --------------------------------------------------------------------------

@pytest.mark.parametrize(("when", "context", "matches"), [
    ({"purpose": "commercial"}, {"purpose": "commercial"}, True),
    ({"purpose": "commercial"}, {"purpose": "non-commercial"}, False),
    ({"purpose": ["commercial", "non-commercial"]}, {"purpose": "non-commercial"}, True),
    ({"territory": {"in": ["US", "CA"]}}, {"territory": "ca"}, True),
    ({"territory": {"in": ["US", "CA"]}}, {"territory": "FR"}, False),
    ({"territory": {"not_in": ["US"]}}, {"territory": "FR"}, True),
    ({"territory": {"not_in": ["US"]}}, {"territory": "US"}, False),
    ({"excerpt_seconds": {"max": 15}}, {"excerpt_seconds": 15}, True),
    ({"excerpt_seconds": {"max": 15}}, {"excerpt_seconds": 15.5}, False),
    ({"excerpt_seconds": {"min": 5}}, {"excerpt_seconds": 4}, False),
    ({"excerpt_seconds": {"min": 5, "max": 10}}, {"excerpt_seconds": 5}, True),
    ({"between": {"from": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}},
     {"at": "2025-06-01T12:00:00+02:00"}, True),
    ({"between": {"from": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}},
     {"at": "2026-01-01T00:00:00Z"}, False),  # until is exclusive
    ({"between": {"from": "2025-01-01T00:00:00Z"}}, {"at": "2024-12-31T23:59:59Z"}, False),
    ({"between": {"until": "2999-01-01T00:00:00Z"}}, {}, True),  # at defaults to now
    ({"purpose": "commercial", "territory": {"in": ["US"]}},
     {"purpose": "commercial", "territory": "FR"}, False),
])
def test_conditions(when: dict, context: dict, matches: bool) -> None:
    policy = compiled([{"id": "r", "permit": ["quote"], "when": when}])
    assert (decide([policy], "quote", **context).decision == "permit") is matches


# --- missing context is read against the asker ------------------------------------------

@pytest.mark.parametrize("when", [
    {"purpose": "non-commercial"}, {"territory": {"in": ["US"]}},
    {"territory": {"not_in": ["US"]}}, {"excerpt_seconds": {"max": 15}},
])
def test_missing_context_never_satisfies_a_permit_or_route(when: dict) -> None:
    permit = compiled([{"id": "r", "permit": ["remix"], "when": when}])
    assert decide([permit], "remix").decision == "deny"
    route = compiled([{"id": "r", "route": "x", "for": ["remix"], "when": when}],
                     routes={"x": ASK})
    assert decide([route], "remix").decision == "deny"


@pytest.mark.parametrize("when", [
    {"purpose": "commercial"}, {"territory": {"in": ["US"]}},
    {"territory": {"not_in": ["US"]}}, {"excerpt_seconds": {"min": 30}},
])
def test_missing_context_satisfies_a_deny(when: dict) -> None:
    policy = compiled([{"id": "free", "permit": ["remix"]},
                       {"id": "no", "deny": ["remix"], "when": when}])
    decision = decide([policy], "remix")
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "no"


def test_the_documented_example_deny_commercial_remix() -> None:
    policy = compiled([{"id": "free", "permit": ["remix"]},
                       {"id": "no-commercial", "deny": ["remix"],
                        "when": {"purpose": "commercial"}}])
    assert decide([policy], "remix").decision == "deny"
    assert decide([policy], "remix", purpose="non-commercial").decision == "permit"


# --- failing rules -----------------------------------------------------------------------

def test_a_rule_that_fails_is_skipped_and_reported() -> None:
    policy = compiled([
        {"id": "short", "permit": ["quote"], "when": {"excerpt_seconds": {"max": 15}}},
        {"id": "anyone", "permit": ["quote"], "to": ["public"]},
        {"id": "deny-long", "deny": ["quote"], "when": {"excerpt_seconds": {"min": 60}}},
    ])
    # build_request refuses this; a caller building Context directly can still send it.
    broken = Context(excerpt_seconds="ten")  # type: ignore[arg-type]
    request = Request(action="quote", resource=parse_resource(HOOK), principal=PUBLIC,
                      context=broken)
    decision = authorize([policy], request)
    assert decision.decision == "permit"
    assert decision.reasons[0].rule == "anyone"
    assert sorted(e.rule for e in decision.errors) == ["deny-long", "short"]
    assert all(e.policy == "p0" and "TypeError" in e.message for e in decision.errors)


def test_a_naive_time_is_a_rule_error_not_a_crash() -> None:
    policy = compiled([{"id": "w", "permit": ["quote"],
                        "when": {"between": {"from": "2025-01-01T00:00:00Z"}}}])
    request = Request(action="quote", resource=parse_resource(HOOK), principal=AGENT,
                      context=Context(at=datetime(2025, 6, 1)))
    decision = authorize([policy], request)
    assert decision.decision == "deny" and decision.errors[0].rule == "w"


# --- request building --------------------------------------------------------------------

def test_build_request_checks_its_input() -> None:
    request = build_request("quote", HOOK, context={
        "purpose": "commercial", "territory": "us", "excerpt_seconds": 3,
        "at": "2025-01-01T00:00:00Z"})
    assert request.context == Context(purpose="commercial", territory="US", excerpt_seconds=3,
                                      at=datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(UnknownContextKey) as unknown:
        build_request("quote", HOOK, context={"purpose": "commercial", "campaign": "spring",
                                              "purpos": "commercial"})
    assert [e.pointer for e in unknown.value.errors] == ["/context/campaign", "/context/purpos"]
    assert known_context({"purpos": 1, "at": None}, lenient=True)[0] == {"at": None}
    with pytest.raises(InvalidInput) as raised:
        build_request("quote", HOOK, context={"purpose": "fun", "territory": "USA",
                                              "excerpt_seconds": -1, "at": "2025-01-01"})
    assert [e.pointer for e in raised.value.errors] == [
        "/context/purpose", "/context/territory", "/context/excerpt_seconds", "/context/at"]
    with pytest.raises(InvalidInput):
        build_request("quote", "hook:nope")
