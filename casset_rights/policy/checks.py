"""The validator's semantic checks: what the JSON Schema cannot state.

They read the raw document defensively (any part may be malformed, and the schema
reports that), so one run reports every error. Errors: an unknown route name, repeated
rule ids, ``min > max``, ``from >= until``, an impossible date, ``on`` narrower than
``applies_to`` allows, obligations on a rule that is not a permit, a free route with a
price, partners on a non-partner route, unknown attribution placeholders, and tests
about resources the policy does not govern. Warnings: unused routes, rules that can
never match (a time window already over, an audience that no principal can be) and
rules shadowed within the policy (every scope denied, or permitted, unconditionally
for a wider audience).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeGuard

from casset_rights.errors import FieldError, InvalidInput
from casset_rights.limits import utc_instant
from casset_rights.policy.model import TARGETS
from casset_rights.policy.source import SourceDocument, escape
from casset_rights.resources import RESOURCE_KINDS, parse_resource

PLACEHOLDERS = ("title", "artist", "resource")
RawRule = dict[str, Any]  # a rule as written, before the schema has vouched for it
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def semantic_findings(source: SourceDocument, *, now: datetime) -> list[FieldError]:
    """Every semantic error and warning in ``source.data`` (severity says which)."""
    doc = source.data
    if not isinstance(doc, dict):
        return []
    level = _target_level(doc.get("applies_to"))
    spoken = doc.get("routes")
    routes: dict[str, Any] = spoken if isinstance(spoken, dict) else {}
    rules = [(i, r) for i, r in enumerate(_list(doc.get("rules"))) if isinstance(r, dict)]
    found: list[FieldError] = []
    found += _attribution(source, doc.get("attribution"))
    found += _rule_ids(source, rules)
    for i, rule in rules:
        found += _rule(source, rule, at=f"/rules/{i}", routes=routes, level=level, now=now)
    used = {r.get("route") for _, r in rules}
    for name, route in routes.items():
        at = f"/routes/{escape(name)}"
        if name not in used:
            found.append(source.error(at, f"route {name!r} is not used by any rule",
                                      severity="warning", key=True))
        if isinstance(route, dict):
            found += _route(source, route, at=at)
    found += _shadowed(source, rules)
    for i, test in enumerate(_list(doc.get("tests"))):
        found += _test(source, test, at=f"/tests/{i}", applies_to=doc.get("applies_to"))
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _target_level(applies_to: Any) -> int | None:
    if applies_to == "artist":
        return 0
    if isinstance(applies_to, str) and ":" in applies_to:
        kind = applies_to.partition(":")[0]
        if kind in RESOURCE_KINDS:
            return RESOURCE_KINDS.index(kind) + 1
    return None


def _attribution(source: SourceDocument, text: Any) -> Iterator[FieldError]:
    if not isinstance(text, str):
        return
    unknown = sorted({m for m in _PLACEHOLDER.findall(text) if m not in PLACEHOLDERS})
    if unknown:
        yield source.error("/attribution", f"unknown placeholder(s) {', '.join(unknown)}; "
                                           "use {title}, {artist} or {resource}")


def _rule_ids(source: SourceDocument, rules: list[tuple[int, RawRule]]) -> Iterator[FieldError]:
    first: dict[str, int] = {}
    for i, rule in rules:
        rule_id = rule.get("id")
        if not isinstance(rule_id, str):
            continue
        if rule_id in first:
            yield source.error(f"/rules/{i}/id",
                               f"duplicate rule id {rule_id!r} (first at /rules/{first[rule_id]})")
        else:
            first[rule_id] = i


def _rule(source: SourceDocument, rule: dict[str, Any], *, at: str, routes: dict[str, Any],
          level: int | None, now: datetime) -> Iterator[FieldError]:
    name = rule.get("route")
    if isinstance(name, str) and name not in routes:
        known = ", ".join(sorted(routes)) or "none defined"
        yield source.error(f"{at}/route", f"unknown route {name!r} (routes: {known})")
    if "obligations" in rule and "permit" not in rule:
        yield source.error(f"{at}/obligations", "obligations belong to permit rules; a route's "
                                                "duties go on the route")
    on = rule.get("on")
    if level is not None and on in TARGETS and RESOURCE_KINDS.index(TARGETS[on]) + 1 < level:
        yield source.error(f"{at}/on", f"on: {on} never matches in a policy that applies to a "
                                       f"{RESOURCE_KINDS[level - 1]}")
    when = rule.get("when")
    if isinstance(when, dict):
        yield from _when(source, when, at=f"{at}/when", now=now)
    yield from _audience(source, rule.get("to"), at=f"{at}/to")


def _when(source: SourceDocument, when: dict[str, Any], *, at: str,
          now: datetime) -> Iterator[FieldError]:
    excerpt = when.get("excerpt_seconds")
    if isinstance(excerpt, dict):
        low, high = excerpt.get("min"), excerpt.get("max")
        if _number(low) and _number(high) and low > high:
            yield source.error(f"{at}/excerpt_seconds", f"min {low} is greater than max {high}")
    window = when.get("between")
    if not isinstance(window, dict):
        return
    start = _datetime(source, window.get("from"), at=f"{at}/between/from")
    end = _datetime(source, window.get("until"), at=f"{at}/between/until")
    for item in (start, end):
        if isinstance(item, FieldError):
            yield item
    if isinstance(start, datetime) and isinstance(end, datetime) and start >= end:
        yield source.error(f"{at}/between", "from must be before until")
    elif isinstance(end, datetime) and end <= now:
        yield source.error(f"{at}/between/until", f"the rule can never match: its time window "
                                                  f"ended at {window['until']}", severity="warning")


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _datetime(source: SourceDocument, value: Any, *, at: str) -> datetime | FieldError | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return source.error(at, f"{value!r} is not a real date and time")
    if parsed.tzinfo is None:
        return None  # the schema asks for the zone
    try:
        return utc_instant(parsed, at)
    except InvalidInput:
        return source.error(at, f"{value!r} falls outside the years 1 to 9999 in UTC")


def _audience(source: SourceDocument, to: Any, *, at: str) -> Iterator[FieldError]:
    items = _list(to)
    dead = [i for i, item in enumerate(items) if isinstance(item, dict)
            and item.get("kind") == "public" and item.get("attributes")]
    for i in dead:
        yield source.error(f"{at}/{i}", "never matches: public callers carry no attributes",
                           severity="warning")
    if items and len(dead) == len(items):
        yield source.error(at, "the rule can never match: no principal fits its audience",
                           severity="warning")


def _route(source: SourceDocument, route: dict[str, Any], *, at: str) -> Iterator[FieldError]:
    kind = route.get("type")
    if kind == "free":
        for name in ("price", "revenue_share_percent"):
            if name in route:
                yield source.error(f"{at}/{name}", f"a free route has no {name}", key=True)
    if kind != "partner" and "partners" in route:
        yield source.error(f"{at}/partners", "only a partner route names partners", key=True)


def _test(source: SourceDocument, test: Any, *, at: str, applies_to: Any) -> Iterator[FieldError]:
    request = test.get("request") if isinstance(test, dict) else None
    if not isinstance(request, dict) or not isinstance(applies_to, str) or applies_to == "artist":
        return
    resource = request.get("resource")
    if not isinstance(resource, str):
        return  # the schema reports a missing or malformed resource
    try:
        asked, target = parse_resource(resource), parse_resource(applies_to)
    except Exception:
        return  # the schema locates malformed ids
    if not target.contains(asked):
        yield source.error(f"{at}/request/resource", f"this policy governs {applies_to} and "
                                                     f"what lies below it, not {resource}")
    context = request.get("context")
    if isinstance(context, dict) and isinstance(context.get("at"), str):
        parsed = _datetime(source, context["at"], at=f"{at}/request/context/at")
        if isinstance(parsed, FieldError):
            yield parsed


def _shadowed(source: SourceDocument, rules: list[tuple[int, RawRule]]) -> Iterator[FieldError]:
    """Permit and route rules that can never decide: for every scope there is an
    unconditional deny (or, for a route rule, permit) covering their audience and target."""
    plain = [r for _, r in rules if "when" not in r and isinstance(r.get("id"), str)]
    for i, rule in rules:
        scopes = rule.get("permit") if "permit" in rule else rule.get("for")
        if "deny" in rule or not isinstance(scopes, list) or not scopes:
            continue
        for effect in ("deny", "permit") if "route" in rule else ("deny",):
            covering = [_covering(rule, scope, effect, plain) for scope in scopes]
            if all(covering):
                names = ", ".join(sorted({c for c in covering if c}))
                what = "denied" if effect == "deny" else "permitted outright"
                yield source.error(f"/rules/{i}", f"rule {rule.get('id')!r} never applies: "
                                                  f"its scopes are {what} by rule(s) {names} "
                                                  "for the same audience", severity="warning")
                break


def _covering(rule: RawRule, scope: Any, effect: str, plain: list[RawRule]) -> str | None:
    for other in plain:
        scopes = other.get(effect)
        if other is rule or not isinstance(scopes, list) or scope not in scopes:
            continue
        if other.get("on") not in (None, rule.get("on")):
            continue
        if _audience_covers(other.get("to", "any"), rule.get("to", "any")):
            return str(other["id"])
    return None


def _audience_covers(general: Any, specific: Any) -> bool:
    """Whether every principal ``specific`` admits is admitted by ``general``."""
    if general == "any":
        return True
    if specific == "any" or not isinstance(general, list) or not isinstance(specific, list):
        return False
    return all(_item_covered(item, general) for item in specific)


def _item_covered(item: Any, general: list[Any]) -> bool:
    if isinstance(item, str):
        return item in general
    if not isinstance(item, dict):
        return False
    kind, attributes = item.get("kind"), item.get("attributes") or {}
    if kind is not None and kind in general:
        return True
    for other in general:
        if not isinstance(other, dict) or other.get("kind") not in (None, kind):
            continue
        wanted = other.get("attributes") or {}
        if all(k in attributes and type(attributes[k]) is type(v) and attributes[k] == v
               for k, v in wanted.items()):
            return True
    return False
