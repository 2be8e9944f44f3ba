"""Hypothesis strategies for policies and requests, and a reference evaluator written
straight from the documented semantics (independent of the compiler's tables)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from casset_rights.principal import PUBLIC, Principal

ARTIST = "a"
ACTIONS = ("remix", "sample", "quote")
RESOURCES = {1: "release:rel", 2: "track:rel/1", 3: "hook:rel/1/h"}
TARGETS = {0: "artist", **RESOURCES}
KIND_LEVEL = {"releases": 1, "tracks": 2, "hooks": 3}
T1, T2 = "2025-01-01T00:00:00Z", "2025-07-01T00:00:00Z"
AUDIENCE_ITEMS: list[Any] = [
    "public", "agent", "partner", "artist", "client:c1",
    {"kind": "agent", "attributes": {"tier": "gold"}},
    {"attributes": {"verified": True}}, {"kind": "partner"}, {"kind": "artist"},
]
PRINCIPALS = [
    PUBLIC,
    Principal(kind="agent", client_id="c1"),
    Principal(kind="agent", client_id="c2", attributes={"tier": "gold"}),
    Principal(kind="partner", client_id="c3", attributes={"verified": True}),
    Principal(kind="partner", client_id="c1", attributes={"tier": "gold", "verified": True}),
    Principal(kind="artist", subject=ARTIST),
    Principal(kind="artist", subject="someone-else", attributes={"verified": True}),
]
ROUTES = {"r1": {"type": "free", "obligations": ["attribute"]},
          "r2": {"type": "paid", "price": {"amount": 900, "currency": "usd"}, "term_days": 30}}

scopes = st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3, unique=True)
audiences = st.one_of(
    st.just("any"),
    st.lists(st.sampled_from(range(len(AUDIENCE_ITEMS))), min_size=1, max_size=3,
             unique=True).map(lambda ix: [AUDIENCE_ITEMS[i] for i in ix]))
purposes = st.sampled_from(["commercial", "non-commercial"])
conditions = st.fixed_dictionaries({}, optional={
    "purpose": st.one_of(purposes, st.lists(purposes, min_size=1, max_size=2, unique=True)),
    "territory": st.sampled_from(["in", "not_in"]).flatmap(
        lambda k: st.lists(st.sampled_from(["US", "FR", "DE"]), min_size=1, max_size=2,
                           unique=True).map(lambda v: {k: v})),
    "excerpt_seconds": st.sampled_from([{"max": 15}, {"min": 10}, {"min": 10, "max": 30}]),
    "between": st.sampled_from([{"from": T1}, {"until": T2}, {"from": T1, "until": T2}]),
}).filter(bool)
obligations = st.lists(st.sampled_from(["attribute", "link-back", "register-derivative",
                                        "report-use"]), max_size=3, unique=True)


@st.composite
def rules(draw: st.DrawFn, level: int,
          effects: tuple[str, ...] = ("permit", "route", "permit", "route", "deny"),
          ) -> dict[str, Any]:
    effect = draw(st.sampled_from(effects))
    rule: dict[str, Any] = {}
    if effect == "route":
        rule["route"] = draw(st.sampled_from(sorted(ROUTES)))
        rule["for"] = draw(scopes)
    else:
        rule[effect] = draw(scopes)
    if draw(st.booleans()):
        rule["to"] = draw(audiences)
    on = draw(st.sampled_from([None] + [k for k, v in KIND_LEVEL.items() if v >= level]))
    if on is not None:
        rule["on"] = on
    if draw(st.booleans()):
        rule["when"] = draw(conditions)
    if effect == "permit" and draw(st.booleans()):
        rule["obligations"] = draw(obligations)
    return rule


def with_ids(items: list[dict[str, Any]], prefix: str = "r") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", **item} for i, item in enumerate(items)]


def policy_document(level: int, rule_list: list[dict[str, Any]]) -> dict[str, Any]:
    return {"policy": f"level-{level}", "artist": ARTIST, "applies_to": TARGETS[level],
            "rules": rule_list, "routes": ROUTES}


@st.composite
def policies(draw: st.DrawFn, level: int) -> dict[str, Any]:
    return policy_document(level, with_ids(draw(st.lists(rules(level), max_size=5))))


@st.composite
def chains(draw: st.DrawFn, resource_level: int) -> list[dict[str, Any] | None]:
    return [draw(st.none() | policies(level)) for level in range(resource_level + 1)]


contexts = st.fixed_dictionaries({}, optional={
    "purpose": purposes,
    "territory": st.sampled_from(["US", "FR", "GB"]),
    "excerpt_seconds": st.sampled_from([5, 12, 20, 40]),
    "at": st.sampled_from(["2024-06-01T00:00:00Z", "2025-03-01T00:00:00Z",
                           "2025-09-01T00:00:00Z"]),
})


@st.composite
def requests(draw: st.DrawFn) -> tuple[int, str, Principal, dict[str, Any]]:
    """(resource level, action, principal, context)."""
    return (draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from(ACTIONS)),
            draw(st.sampled_from(PRINCIPALS)), draw(contexts))


# --- the reference evaluator -------------------------------------------------------------

def _audience(to: Any, p: Principal) -> bool:
    if to == "any":
        return True
    for item in to:
        if isinstance(item, str):
            if item.startswith("client:"):
                if p.client_id == item[len("client:"):]:
                    return True
            elif item == p.kind and (item != "artist" or p.subject == ARTIST):
                return True
            continue
        if item.get("kind") not in (None, p.kind):
            continue
        if p.kind == "artist" and p.subject != ARTIST:
            continue
        if all(k in p.attributes and type(p.attributes[k]) is type(v) and p.attributes[k] == v
               for k, v in item.get("attributes", {}).items()):
            return True
    return False


def _when(when: dict[str, Any], ctx: dict[str, Any], *, missing: bool) -> bool:
    for key, cond in when.items():
        if key == "between":
            at = datetime.fromisoformat(ctx["at"]) if "at" in ctx else datetime.now(UTC)
            if "from" in cond and at < datetime.fromisoformat(cond["from"]):
                return False
            if "until" in cond and at >= datetime.fromisoformat(cond["until"]):
                return False
            continue
        if key not in ctx:
            if not missing:
                return False
            continue
        value = ctx[key]
        if key == "purpose":
            ok = value in ([cond] if isinstance(cond, str) else cond)
        elif key == "territory":
            ok = value in cond["in"] if "in" in cond else value not in cond["not_in"]
        else:
            ok = cond.get("min", 0) <= value <= cond.get("max", float("inf"))
        if not ok:
            return False
    return True


def reference(chain: list[dict[str, Any] | None], *, resource_level: int, action: str,
              principal: Principal, context: dict[str, Any]) -> tuple[str, set[tuple[str, str]]]:
    """The decision and the (policy, rule) reasons, straight from the documentation."""
    kind = ("", "releases", "tracks", "hooks")[resource_level]
    matched: dict[str, list[tuple[int, str, str]]] = {"deny": [], "permit": [], "route": []}
    for level, doc in enumerate(chain):
        if doc is None:
            continue
        for rule in doc["rules"]:
            effect = "deny" if "deny" in rule else "permit" if "permit" in rule else "route"
            if action not in (rule.get("deny") or rule.get("permit") or rule.get("for")):
                continue
            if rule.get("on", kind) != kind or not _audience(rule.get("to", "any"), principal):
                continue
            if _when(rule.get("when", {}), context, missing=effect == "deny"):
                matched[effect].append((level, doc["policy"], rule["id"]))
    if matched["deny"]:
        return "deny", {(p, r) for _, p, r in matched["deny"]}
    for level in range(len(chain) - 1, -1, -1):
        for effect, answer in (("permit", "permit"), ("route", "license_required")):
            here = {(p, r) for lv, p, r in matched[effect] if lv == level}
            if here:
                return answer, here
    return "deny", set()
