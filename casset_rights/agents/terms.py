"""What the engine says about a resource, in the shape the agent-facing exports need.

Every export (RSL, AI-preference headers and robots.txt, TDMRep, the deed) is generated
from these answers, which ``authorize`` gives on the compiled policy chain the rights
index holds: nothing in an export is written by hand.

A ``ResourceTerms`` answers ``decision(scope, audience, purpose)`` for the principal kinds
``public``, ``agent`` and ``partner`` (no client id, no attributes) and the purposes
``None`` (not stated), ``commercial`` and ``non-commercial``, with no other context. What
depends on more than that (a territory, an excerpt length, a time window, a client id or
verified attributes) is listed by ``conditions_beyond`` so each export can name what it
cannot state.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

from casset_rights.decisions.index import ReleaseEntry, RightsIndex
from casset_rights.policy import SCOPES, CompiledPolicy, Decision, LicenseRoute, authorize
from casset_rights.policy.model import Conditions
from casset_rights.policy.request import Context, Request
from casset_rights.principal import Principal
from casset_rights.resources import ResourceRef, is_segment, parse_resource

AUDIENCES: tuple[str, ...] = ("public", "agent", "partner")
PURPOSE_CASES: tuple[str | None, ...] = (None, "commercial", "non-commercial")
_PRINCIPALS = {kind: Principal(kind=kind) for kind in AUDIENCES}  # type: ignore[arg-type]
_CONTEXTS = {p: Context(purpose=p) for p in PURPOSE_CASES}


@dataclass(frozen=True)
class ResourceTerms:
    """The engine's answers for one resource (a release, track or hook head)."""

    ref: ResourceRef
    release: ReleaseEntry
    chain: tuple[CompiledPolicy, ...]
    answers: dict[tuple[str, str, str | None], Decision] = field(repr=False)

    def decision(self, scope: str, audience: str = "agent",
                 purpose: str | None = None) -> Decision:
        return self.answers[(scope, audience, purpose)]

    def value(self, scope: str, audience: str = "agent", purpose: str | None = None) -> str:
        return self.decision(scope, audience, purpose).decision

    @property
    def title(self) -> str:
        return self.release.titles.get(self.ref.path, self.release.title)

    def routes(self) -> list[LicenseRoute]:
        """Every license route any audience and purpose case is offered, by name."""
        named: dict[str, LicenseRoute] = {}
        for decision in self.answers.values():
            for route in decision.license_routes:
                named.setdefault(route.name, route)
        return [named[n] for n in sorted(named)]

    def conditional(self, scope: str, audience: str) -> list[str]:
        """The permit and route rules for ``scope`` that can apply to ``audience`` only
        under conditions beyond purpose, in words (``permit if the excerpt is at most 15
        s``): what the answers without such context leave out."""
        out: list[str] = []
        for policy in self.chain:
            for rule in policy.policy.rules:
                if rule.effect == "deny" or scope not in rule.scopes or rule.when is None:
                    continue
                if not _reaches(rule.to, audience):
                    continue
                words = _condition_words(rule.when)
                if words:
                    effect = "yes" if rule.effect == "permit" else f"with license {rule.route}"
                    out.append(f"{effect} if {words}")
        return out

    def conditions_beyond(self) -> list[str]:
        """Rules of the chain whose outcome depends on more than audience kind and
        purpose: what no export built from ``answers`` can state exactly."""
        out: list[str] = []
        for policy in self.chain:
            for rule in policy.policy.rules:
                where = f"{policy.id}#{rule.id}"
                when = rule.when
                if when is not None:
                    if when.territory is not None:
                        out.append(f"{where}: depends on the territory of use")
                    if when.excerpt_seconds is not None:
                        out.append(f"{where}: depends on the excerpt length")
                    if when.between is not None:
                        out.append(f"{where}: applies only within a time window")
                if rule.to != "any":
                    for item in rule.to:
                        if isinstance(item, str) and item.startswith("client:"):
                            out.append(f"{where}: applies to one named client ({item})")
                        elif not isinstance(item, str) and item.attributes:
                            out.append(f"{where}: applies to clients with verified attributes")
        return out


def resource_terms(index: RightsIndex, resource: str | ResourceRef) -> ResourceTerms:
    """The engine's answers for ``resource``. Raises InvalidInput for a malformed id and
    UnknownResource for one the catalog does not hold."""
    ref = resource if isinstance(resource, ResourceRef) else parse_resource(resource)
    resolved = index.resolve(ref)
    release = resolved.release
    title = release.titles.get(ref.path, release.title)
    answers: dict[tuple[str, str, str | None], Decision] = {}
    for scope in SCOPES:
        for audience in AUDIENCES:
            for purpose in PURPOSE_CASES:
                request = Request(action=scope, resource=ref, principal=_PRINCIPALS[audience],
                                  context=_CONTEXTS[purpose], title=title,
                                  artist_name=release.artist_name)
                answers[(scope, audience, purpose)] = authorize(resolved.chain, request)
    return ResourceTerms(ref=ref, release=release, chain=resolved.chain, answers=answers)


def release_resources(release: ReleaseEntry) -> Iterator[ResourceRef]:
    """The release, then its tracks, then their hooks, in a stable order."""
    yield ResourceRef("release", release.release_id)
    for track in sorted(release.tracks):
        yield parse_resource(f"track:{track}")
    for hook in sorted(release.hooks):
        yield parse_resource(f"hook:{hook}")


def resource_path(ref: ResourceRef) -> str:
    """The API path that serves ``ref`` (what an RSL ``content`` element names)."""
    return {"release": "/v1/releases/", "track": "/v1/tracks/", "hook": "/v1/hooks/"}[
        ref.kind] + ref.path


def deed_path(release_id: str) -> str:
    """The terms URL path every export links to (the deed of the release)."""
    return f"/r/{release_id}"


def _reaches(to: object, audience: str) -> bool:
    if to == "any":
        return True
    for item in to:  # type: ignore[attr-defined]
        if item == audience:
            return True
        if not isinstance(item, str) and getattr(item, "kind", None) in (None, audience):
            return True
    return False


def _condition_words(when: Conditions) -> str:
    parts = []
    if when.excerpt_seconds is not None:
        low, high = when.excerpt_seconds.min, when.excerpt_seconds.max
        if low is not None and high is not None:
            parts.append(f"the excerpt is {low} to {high} s")
        elif high is not None:
            parts.append(f"the excerpt is at most {high} s")
        else:
            parts.append(f"the excerpt is at least {low} s")
    if when.territory is not None:
        if when.territory.in_ is not None:
            parts.append("used in " + ", ".join(when.territory.in_))
        else:
            parts.append("not used in " + ", ".join(when.territory.not_in or ()))
    if when.between is not None:
        if when.between.from_ is not None:
            parts.append(f"on or after {when.between.from_.isoformat()}")
        if when.between.until is not None:
            parts.append(f"before {when.between.until.isoformat()}")
    if parts and when.purpose is not None:
        purposes = (when.purpose,) if isinstance(when.purpose, str) else when.purpose
        parts.append("the purpose is " + " or ".join(purposes))
    return " and ".join(parts)


@functools.lru_cache(maxsize=4096)
def resource_of_path(path: str) -> ResourceRef | None:
    """The resource a successful GET of ``path`` serves: a catalog read
    (``/v1/releases/R...``, ``/v1/tracks/R/T``, ``/v1/hooks/R/T/H``) or a deed
    (``/r/R``); ``None`` for any other path. Remembered for the paths read most (every
    catalog read asks, for its terms headers)."""
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "v1":
        kind, rest = parts[1], parts[2:]
        if kind == "releases":
            return _ref("release", rest[:1])
        if kind == "tracks" and len(rest) == 2:
            return _ref("track", rest)
        if kind == "hooks" and len(rest) == 3:
            return _ref("hook", rest)
    if len(parts) == 2 and parts[0] == "r":
        return _ref("release", parts[1:])
    return None


def _ref(kind: str, segments: list[str]) -> ResourceRef | None:
    if not all(is_segment(s) for s in segments):
        return None
    padded: list[str | None] = [*segments, None, None]
    return ResourceRef(kind, segments[0], padded[1], padded[2])  # type: ignore[arg-type]
