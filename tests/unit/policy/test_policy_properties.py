"""Properties of the decision semantics over generated policies and requests.

The compiled authorizer agrees with a reference evaluator written from the docs; default
deny; deny monotonicity; permit monotonicity; order independence; a deny above is never
undone below; parse(serialize(p)) == p.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from policy_strategies import (
    ACTIONS,
    RESOURCES,
    chains,
    policies,
    policy_document,
    reference,
    requests,
    rules,
)

from casset_rights.policy import (
    Decision,
    authorize,
    build_request,
    compile_policy,
    parse,
    serialize,
)
from casset_rights.policy.model import to_policy
from casset_rights.principal import Principal

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
Request = tuple[int, str, Principal, dict[str, Any]]


def decide(chain: list[dict[str, Any] | None], request: Request) -> Decision:
    level, action, principal, context = request
    compiled = [None if doc is None else compile_policy(to_policy(doc)) for doc in chain]
    return authorize(compiled[:level + 1], build_request(action, RESOURCES[level],
                                                         principal=principal, context=context))


def projection(decision: Decision) -> tuple[Any, ...]:
    # Route hashes name the policy text, which a reordering changes; all else is equal.
    return (decision.decision, decision.reasons, decision.obligations,
            tuple((r.name, r.type, r.scopes) for r in decision.license_routes), decision.errors)


def add_rule(chain: list[dict[str, Any] | None], level: int, rule: dict[str, Any], *,
             rule_id: str = "zz-added") -> list[dict[str, Any] | None]:
    out = list(chain)
    doc = out[level] or policy_document(level, [])
    out[level] = {**doc, "rules": [*doc["rules"], {"id": rule_id, **rule}]}
    return out


@settings(SETTINGS, max_examples=300)
@given(chain=chains(3), request=requests())
def test_the_authorizer_agrees_with_the_reference(chain: list, request: Request) -> None:
    level, action, principal, context = request
    decision = decide(chain, request)
    expected, reasons = reference(chain[:level + 1], resource_level=level, action=action,
                                  principal=principal, context=context)
    event(decision.decision)
    assert decision.decision == expected
    if reasons:
        assert {(r.policy, r.rule) for r in decision.reasons} == reasons
    else:
        assert [r.rule for r in decision.reasons] == ["default-deny"]
    assert decision.errors == ()


@SETTINGS
@given(present=st.lists(st.booleans(), min_size=4, max_size=4), request=requests())
def test_empty_policies_deny(present: list[bool], request: Request) -> None:
    chain = [policy_document(lv, []) if here else None for lv, here in enumerate(present)]
    decision = decide(chain, request)
    assert decision.decision == "deny"
    assert [r.rule for r in decision.reasons] == ["default-deny"]


@SETTINGS
@given(chain=chains(3), request=requests(), data=st.data())
def test_adding_a_deny_never_yields_permit(chain: list, request: Request,
                                           data: st.DataObject) -> None:
    level = request[0]
    before = decide(chain, request).decision
    at = data.draw(st.integers(0, level))
    deny = data.draw(rules(at, effects=("deny",)))
    after = decide(add_rule(chain, at, deny), request).decision
    assert after == before or after == "deny"
    matching = add_rule(chain, at, {"deny": [request[1]]})
    assert decide(matching, request).decision == "deny"


@SETTINGS
@given(chain=chains(3), request=requests(), data=st.data())
def test_adding_a_permit_never_turns_permit_into_deny(chain: list, request: Request,
                                                      data: st.DataObject) -> None:
    level = request[0]
    at = data.draw(st.integers(0, level))
    permit = data.draw(rules(at, effects=("permit",)))
    after = decide(add_rule(chain, at, permit), request).decision
    if decide(chain, request).decision == "permit":
        assert after == "permit"


@SETTINGS
@given(chain=chains(3), request=requests(), seed=st.randoms(use_true_random=False))
def test_rule_and_list_order_never_matter(chain: list, request: Request,
                                          seed: random.Random) -> None:
    shuffled = [None if doc is None else shuffle_policy(doc, seed) for doc in chain]
    assert projection(decide(shuffled, request)) == projection(decide(chain, request))


def shuffle_policy(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    def shuffled(value: Any) -> Any:
        if isinstance(value, list):
            items = [shuffled(v) for v in value]
            rng.shuffle(items)
            return items
        if isinstance(value, dict):
            return {k: shuffled(v) for k, v in value.items()}
        return value
    return {**doc, "rules": shuffled(doc["rules"])}


@SETTINGS
@given(chain=chains(3), request=requests(), data=st.data())
def test_a_deny_above_is_never_undone_below(chain: list, request: Request,
                                            data: st.DataObject) -> None:
    level, action, _, context = request
    if level == 1:
        level, request = 2, (2, *request[1:])
    at = data.draw(st.integers(0, level - 1))  # the artist, release or track level
    # A deny that matches: unconditional, or on a key the request states the same value
    # for, or on a key it does not state (missing context satisfies a deny).
    when = {"purpose": context.get("purpose", "commercial")}
    deny = data.draw(st.sampled_from([{"deny": [action]}, {"deny": [action], "when": when}]))
    denied = add_rule(chain, at, deny)
    for n in range(data.draw(st.integers(1, 3))):
        below = data.draw(st.integers(at + 1, level))
        extra = data.draw(rules(below, effects=("permit", "route")))
        denied = add_rule(denied, below, extra, rule_id=f"zz-below-{n}")
    assert decide(denied, request).decision == "deny"


# --- documents ---------------------------------------------------------------------------

tests = st.lists(st.fixed_dictionaries(
    {"request": st.fixed_dictionaries(
        {"action": st.sampled_from(ACTIONS), "resource": st.sampled_from(["hook:rel/1/h"])},
        optional={"as": st.sampled_from(["public", "agent", "client:c1",
                                         {"kind": "partner", "client_id": "c2"}]),
                  "context": st.sampled_from([{}, {"purpose": "commercial", "territory": "US"}])}),
     "expect": st.sampled_from(["permit", "deny", "license_required"])},
    optional={"name": st.text(min_size=1, max_size=20)}), max_size=2)


@SETTINGS
@given(doc=policies(0), extra=st.fixed_dictionaries({}, optional={
    "attribution": st.sampled_from(["{title} by A", "{artist}: {resource}"]),
    "description": st.text(min_size=1, max_size=30), "tests": tests}))
def test_parse_of_serialize_is_the_identity(doc: dict[str, Any], extra: dict[str, Any]) -> None:
    policy = parse({**doc, **extra})
    assert parse(serialize(policy)) == policy
    assert serialize(parse(serialize(policy))) == serialize(policy)
