"""Compiling a policy once into look-up tables the authorizer reads without parsing.

``compile_policy`` indexes every rule by resource kind, principal kind and scope, and
turns its audience and ``when`` conditions into small predicates. A rule's predicates are
built for its effect: a condition on context the request lacks does not match for a
permit or a route rule, and does match for a deny rule (missing context is read against
the asker).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from casset_rights.canonical import content_hash
from casset_rights.errors import FieldError, InvalidInput, PolicyInvalid
from casset_rights.policy.decision import LicenseRoute, Money, Reason
from casset_rights.policy.model import (
    OBLIGATION_TYPES,
    TARGETS,
    Audience,
    Conditions,
    Policy,
    Route,
    Rule,
    serialize,
)
from casset_rights.policy.request import Context
from casset_rights.policy.scopes import scope_order
from casset_rights.principal import PRINCIPAL_KINDS, Principal
from casset_rights.resources import LEVELS, RESOURCE_KINDS, ResourceRef, parse_target

ContextCheck = Callable[[Context], bool]
PrincipalCheck = Callable[[Principal], bool]
_MISSING = object()


class CompiledRule:
    """One rule as the authorizer sees it, for one principal kind."""

    __slots__ = ("audience", "checks", "obligations", "reason", "route", "sort_key")

    def __init__(self, *, reason: Reason, audience: PrincipalCheck | None,
                 checks: tuple[ContextCheck, ...], obligations: int,
                 route: LicenseRoute | None, sort_key: tuple[int, str, str]) -> None:
        self.reason = reason
        self.audience = audience  # None: every principal of this kind matches
        self.checks = checks
        self.obligations = obligations  # bit i set: OBLIGATION_TYPES[i]
        self.route = route
        self.sort_key = sort_key


# (deny rules, permit rules, route rules) for one resource kind, principal kind and scope.
ScopeRules = tuple[tuple[CompiledRule, ...], tuple[CompiledRule, ...], tuple[CompiledRule, ...]]


class CompiledPolicy(msgspec.Struct, frozen=True, eq=False):
    """A policy ready for ``authorize``.

    ``index[resource_kind][principal_kind][scope]`` holds the rules that can apply;
    ``level`` is 0 (artist) to 3 (hook) and ``target`` the resource the policy governs
    (``None`` at the artist level).
    """

    id: str
    hash: str
    artist: str
    applies_to: str
    policy: Policy
    level: int
    target: ResourceRef | None
    attribution: str | None
    index: dict[str, dict[str, dict[str, ScopeRules]]]
    routes: dict[str, LicenseRoute]


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Compile a parsed policy (from ``parse`` or ``load_policy``).

    Raises PolicyInvalid when a rule names a route the policy does not define or
    ``applies_to`` is malformed (``load_policy`` refuses both earlier).
    """
    try:
        target = parse_target(policy.applies_to)
    except InvalidInput as exc:
        raise PolicyInvalid(exc.detail, errors=[FieldError("/applies_to", exc.detail)]) from None
    digest = content_hash(serialize(policy))
    level = 0 if target is None else target.level
    routes = _routes(policy, digest)
    buckets: dict[str, dict[str, dict[str, list[list[CompiledRule]]]]] = {
        rk: {pk: {} for pk in PRINCIPAL_KINDS} for rk in RESOURCE_KINDS}
    for position, rule in enumerate(policy.rules):
        _place(rule, policy=policy, level=level, routes=routes, buckets=buckets,
               pointer=f"/rules/{position}")
    index = {rk: {pk: {scope: (tuple(d), tuple(p), tuple(r)) for scope, (d, p, r) in by.items()}
                  for pk, by in kinds.items()} for rk, kinds in buckets.items()}
    return CompiledPolicy(id=policy.policy, hash=digest, artist=policy.artist,
                          applies_to=policy.applies_to, policy=policy, level=level,
                          target=target, attribution=policy.attribution, index=index,
                          routes=routes)


def _routes(policy: Policy, digest: str) -> dict[str, LicenseRoute]:
    scopes: dict[str, list[str]] = {}
    for rule in policy.rules:
        if rule.route is not None:
            scopes.setdefault(rule.route, []).extend(rule.for_ or ())
    return {name: _license_route(name, route, policy=policy.policy, digest=digest,
                                 scopes=scope_order(scopes.get(name, ())))
            for name, route in policy.routes.items()}


def _license_route(name: str, route: Route, *, policy: str, digest: str,
                   scopes: tuple[str, ...]) -> LicenseRoute:
    price = None if route.price is None else Money(route.price.amount, route.price.currency)
    return LicenseRoute(
        name=name, policy=policy, policy_hash=digest, type=route.type, scopes=scopes,
        price=price, term_days=route.term_days, territory=route.territory, cap=route.cap,
        revenue_share_percent=route.revenue_share_percent, note=route.note,
        partners=route.partners, obligations=tuple(route.obligations),
        description=route.description)


def _place(rule: Rule, *, policy: Policy, level: int, routes: dict[str, LicenseRoute],
           buckets: dict[str, Any], pointer: str) -> None:
    effect = rule.effect
    route = None
    if effect == "route":
        route = routes.get(rule.route or "")
        if route is None:
            message = f"rule {rule.id!r} names route {rule.route!r}, which is not defined"
            raise PolicyInvalid(message, errors=[FieldError(f"{pointer}/route", message)])
    slot = ("deny", "permit", "route").index(effect)
    checks = context_checks(rule.when, missing=effect == "deny")
    mask = sum(1 << OBLIGATION_TYPES.index(o) for o in set(rule.obligations))
    reason = Reason(policy=policy.policy, rule=rule.id, effect=effect, level=LEVELS[level])
    kinds = (TARGETS[rule.on],) if rule.on else RESOURCE_KINDS
    for pkind in PRINCIPAL_KINDS:
        applies, audience = audience_check(rule.to, principal_kind=pkind, owner=policy.artist)
        if not applies:
            continue
        compiled = CompiledRule(reason=reason, audience=audience, checks=checks,
                                obligations=mask, route=route,
                                sort_key=(level, policy.policy, rule.id))
        for rkind in kinds:
            by_scope = buckets[rkind][pkind]
            for scope in set(rule.scopes):
                by_scope.setdefault(scope, [[], [], []])[slot].append(compiled)


def audience_check(to: Audience, *, principal_kind: str,
                   owner: str) -> tuple[bool, PrincipalCheck | None]:
    """Whether a principal of ``principal_kind`` can match ``to``, and the check left to
    run on it (``None``: every such principal matches).

    The ``artist`` kind matches only the policy's own artist (``subject == owner``);
    attribute values match by type and value (``true`` is not ``1``).
    """
    if to == "any":
        return True, None
    checks: list[PrincipalCheck] = []
    clients = frozenset(i[7:] for i in to if isinstance(i, str) and i.startswith("client:"))
    if clients:
        checks.append(lambda p: p.client_id in clients)
    for item in to:
        if isinstance(item, str):
            if item != principal_kind:
                continue
            if item != "artist":
                return True, None
            checks.append(lambda p: p.subject == owner)
        elif item.kind is None or item.kind == principal_kind:
            checks.append(_attributes_check(tuple(item.attributes.items()),
                                            owner=owner if principal_kind == "artist" else None))
    if not checks:
        return False, None
    if len(checks) == 1:
        return True, checks[0]
    found = tuple(checks)
    return True, lambda p: any(check(p) for check in found)


def _attributes_check(wanted: tuple[tuple[str, Any], ...], *, owner: str | None) -> PrincipalCheck:
    def check(principal: Principal) -> bool:
        if owner is not None and principal.subject != owner:
            return False
        have = principal.attributes
        for name, value in wanted:
            got = have.get(name, _MISSING)
            if type(got) is not type(value) or got != value:
                return False
        return True
    return check


def context_checks(when: Conditions | None, *, missing: bool) -> tuple[ContextCheck, ...]:
    """The predicates of ``when``; each answers ``missing`` for a key the context lacks."""
    if when is None:
        return ()
    checks: list[ContextCheck] = []
    if when.purpose is not None:
        allowed = frozenset((when.purpose,) if isinstance(when.purpose, str) else when.purpose)
        checks.append(lambda c: missing if c.purpose is None else c.purpose in allowed)
    if when.territory is not None:
        inside = when.territory.in_ is not None
        codes = frozenset((when.territory.in_ if inside else when.territory.not_in) or ())
        checks.append(lambda c: missing if c.territory is None
                      else (c.territory in codes) is inside)
    if when.excerpt_seconds is not None:
        low = when.excerpt_seconds.min
        high = when.excerpt_seconds.max
        checks.append(_excerpt_check(low, high, missing=missing))
    if when.between is not None:
        checks.append(_window_check(when.between.from_, when.between.until))
    return tuple(checks)


def _excerpt_check(low: float | None, high: float | None, *, missing: bool) -> ContextCheck:
    lowest = -math.inf if low is None else low
    highest = math.inf if high is None else high
    return lambda c: (missing if c.excerpt_seconds is None
                      else lowest <= c.excerpt_seconds <= highest)


def _window_check(start: datetime | None, end: datetime | None) -> ContextCheck:
    # ``at`` is never missing: a request without it is asked about now.
    def check(c: Context) -> bool:
        at = c.at if c.at is not None else datetime.now(UTC)
        return (start is None or start <= at) and (end is None or at < end)
    return check
