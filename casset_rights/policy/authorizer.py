"""The authorizer: one decision from the compiled policies that apply to a resource.

Semantics (proven by the property tests in tests/unit/policy):

* Default deny.
* A matching deny rule at any level wins over every permit; rule order never matters.
* Otherwise the most specific level that speaks (has a matching permit or route rule)
  decides: its matching permits give ``permit`` with the union of their obligations;
  failing those, its matching route rules give ``license_required`` with their routes.
* A rule that raises while evaluated is skipped and reported in ``Decision.errors``.

The request path only does dictionary look-ups on precompiled tables and runs the small
predicates compiled for each rule; nothing is parsed here.
"""

from __future__ import annotations

from collections.abc import Sequence

from casset_rights.errors import InvalidInput, UnknownScope
from casset_rights.policy.compiler import CompiledPolicy, CompiledRule, ScopeRules
from casset_rights.policy.decision import (
    DEFAULT_DENY_REASON,
    Decision,
    LicenseRoute,
    Obligation,
    Reason,
    RuleError,
)
from casset_rights.policy.model import OBLIGATION_TYPES
from casset_rights.policy.request import Context, Request
from casset_rights.policy.scopes import SCOPE_SET
from casset_rights.principal import Principal
from casset_rights.resources import ResourceRef

DEFAULT_ATTRIBUTION = "{title} by {artist}"
_NO_RULES: dict[str, ScopeRules] = {}
_DEFAULT_DENY = Decision(decision="deny", reasons=(DEFAULT_DENY_REASON,))
_PLAIN = {t: Obligation(type=t) for t in OBLIGATION_TYPES}
# The obligation types of each bit mask, in the documented order.
_MASKS = tuple(tuple(t for i, t in enumerate(OBLIGATION_TYPES) if mask >> i & 1)
               for mask in range(1 << len(OBLIGATION_TYPES)))


def authorize(chain: Sequence[CompiledPolicy | None], request: Request) -> Decision:
    """Decide ``request`` under ``chain``: the compiled policies that apply to the
    resource, ordered from general to specific (artist, release, track, hook), at most
    one per level; ``None`` entries (levels without a policy) are skipped.

    Raises UnknownScope for an action outside SCOPES, and InvalidInput when the chain is
    out of order, has two policies at one level, mixes artists, or holds a policy whose
    ``applies_to`` does not contain the resource. Never raises because of a rule.
    """
    action = request.action
    if action not in SCOPE_SET:
        raise UnknownScope(f"unknown scope {action!r}")
    resource = request.resource
    rkind = resource.kind
    principal = request.principal
    ctx = request.context
    denies: list[CompiledRule] = []
    errors: list[RuleError] | None = None
    speaker: CompiledPolicy | None = None
    spoken: list[CompiledRule] = []
    last_level = 4
    artist = None
    for i in range(len(chain) - 1, -1, -1):
        policy = chain[i]
        if policy is None:
            continue
        _check_link(policy, resource, last_level=last_level, artist=artist)
        last_level, artist = policy.level, policy.artist
        bucket = policy.index[rkind].get(principal.kind, _NO_RULES).get(action)
        if bucket is None:
            continue
        deny_rules, permit_rules, route_rules = bucket
        for rule in deny_rules:
            try:
                if _matches(rule, principal, ctx):
                    denies.append(rule)
            except Exception as exc:  # a failing rule is skipped, never fatal
                errors = _record(errors, rule, exc)
        if denies or speaker is not None:
            continue
        for group in (permit_rules, route_rules):
            for rule in group:
                try:
                    if _matches(rule, principal, ctx):
                        spoken.append(rule)
                except Exception as exc:
                    errors = _record(errors, rule, exc)
            if spoken:
                speaker = policy
                break
    found = () if errors is None else tuple(sorted(errors, key=_error_key))
    if denies:
        return Decision(decision="deny", reasons=_reasons(denies), errors=found)
    if speaker is None:
        return _DEFAULT_DENY if errors is None else Decision(
            decision="deny", reasons=(DEFAULT_DENY_REASON,), errors=found)
    if spoken[0].route is None:
        return Decision(decision="permit", reasons=_reasons(spoken),
                        obligations=_obligations(spoken, chain, speaker, request), errors=found)
    return Decision(decision="license_required", reasons=_reasons(spoken),
                    license_routes=_routes(spoken), errors=found)


def _matches(rule: CompiledRule, principal: Principal, ctx: Context) -> bool:
    audience = rule.audience
    if audience is not None and not audience(principal):
        return False
    return all(check(ctx) for check in rule.checks)


def _check_link(policy: CompiledPolicy, resource: ResourceRef, *, last_level: int,
                artist: str | None) -> None:
    level = policy.level
    if level >= last_level:
        raise InvalidInput("the policy chain must run from general to specific, "
                           "one policy per level")
    if artist is not None and policy.artist != artist:
        raise InvalidInput(f"the policy chain mixes artists ({policy.artist!r}, {artist!r})")
    target = policy.target
    if target is not None and not (
            target.release_id == resource.release_id
            and (level < 2 or target.track_id == resource.track_id)
            and (level < 3 or target.hook_id == resource.hook_id)):
        raise InvalidInput(f"policy {policy.id!r} applies to {policy.applies_to}, "
                           f"not to {resource.id}")


def _record(errors: list[RuleError] | None, rule: CompiledRule,
            exc: Exception) -> list[RuleError]:
    out = [] if errors is None else errors
    reason = rule.reason
    error = RuleError(policy=reason.policy or "", rule=reason.rule,
                      message=f"{type(exc).__name__}: {exc}")
    if error not in out:
        out.append(error)
    return out


def _error_key(error: RuleError) -> tuple[str, str, str]:
    return error.policy, error.rule, error.message


def _sort_key(rule: CompiledRule) -> tuple[int, str, str]:
    return rule.sort_key


def _reasons(rules: list[CompiledRule]) -> tuple[Reason, ...]:
    if len(rules) == 1:
        return (rules[0].reason,)
    ordered = sorted(rules, key=_sort_key)
    out: list[Reason] = []
    for rule in ordered:  # one rule can sit in a bucket once per audience path
        if not out or out[-1] is not rule.reason:
            out.append(rule.reason)
    return tuple(out)


def _routes(rules: list[CompiledRule]) -> tuple[LicenseRoute, ...]:
    routes = [rule.route for rule in rules if rule.route is not None]
    if len(routes) == 1:
        return (routes[0],)
    named = {route.name: route for route in routes}
    return tuple(named[name] for name in sorted(named))


def _obligations(rules: list[CompiledRule], chain: Sequence[CompiledPolicy | None],
                 speaker: CompiledPolicy, request: Request) -> tuple[Obligation, ...]:
    mask = 0
    for rule in rules:
        mask |= rule.obligations
    types = _MASKS[mask]
    if not mask & 1:  # no "attribute": nothing to render
        return tuple(_PLAIN[t] for t in types)
    text = _attribution(chain, speaker, request)
    return tuple(Obligation(type="attribute", text=text) if t == "attribute" else _PLAIN[t]
                 for t in types)


def _attribution(chain: Sequence[CompiledPolicy | None], speaker: CompiledPolicy,
                 request: Request) -> str:
    # The deciding policy's template, else the nearest more general one's, else a default.
    template = speaker.attribution
    if template is None:
        for policy in reversed(chain):
            if policy is not None and policy.level < speaker.level and policy.attribution:
                template = policy.attribution
                break
    resource = request.resource.id
    return ((template or DEFAULT_ATTRIBUTION)
            .replace("{title}", request.title or resource)
            .replace("{artist}", request.artist_name or speaker.artist)
            .replace("{resource}", resource))
