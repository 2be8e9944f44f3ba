"""A policy change, tried before it goes live: what it would newly permit or deny across
the artist's catalog (the dry run behind ``POST /v1/policies/{id}:validate``).

Every resource of the artist (releases, tracks, hooks; up to ``max_resources``) is asked
every scope, as each audience the old or new policy can tell apart (the four kinds, each
named client and each attribute set their rules mention) and for each stated purpose
(unstated, commercial, non-commercial), once under the live policies and once with the
candidate in place. Only answers that change are reported. Territories, time windows
and excerpt lengths are asked as unstated; grants and ancestors' policies (which refine
live decisions) are left out: this is the policy's own effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from casset_rights.decisions.index import RightsIndex
from casset_rights.policy import SCOPES, CompiledPolicy, Policy, authorize, build_request
from casset_rights.policy.model import AudienceMatch
from casset_rights.principal import Principal
from casset_rights.resources import ResourceRef, parse_resource

PURPOSES: tuple[str | None, ...] = (None, "commercial", "non-commercial")
MAX_RESOURCES = 2000


class Change(msgspec.Struct, frozen=True):
    """One answer that changes; ``purposes`` are the stated purposes it changes for
    (``unstated`` when the asker says none)."""

    resource: str
    action: str
    audience: str
    before: str
    after: str
    purposes: tuple[str, ...]


class DryRun(msgspec.Struct, frozen=True):
    """``resources`` the change can reach, ``questions`` asked of each policy set."""

    resources: int
    questions: int
    newly_permitted: tuple[Change, ...]
    newly_denied: tuple[Change, ...]
    other_changes: tuple[Change, ...]
    truncated: bool


def target_key(artist: str, applies_to: str) -> str:
    """The index key of the policy level a policy governs (as ``RightsIndex`` keys it)."""
    return f"artist:{artist}" if applies_to == "artist" else applies_to


def audiences(artist: str, policies: Iterable[Policy]) -> list[tuple[str, Principal]]:
    """Who to ask as: each kind, and each named client or attribute set the rules name."""
    found: dict[str, Principal] = {
        "public": Principal(kind="public"),
        "agent": Principal(kind="agent", client_id="any-agent"),
        "partner": Principal(kind="partner", client_id="any-partner"),
        "artist": Principal(kind="artist", client_id="artist-client", subject=artist),
    }
    for policy in policies:
        for rule in policy.rules:
            if rule.to == "any":
                continue
            for item in rule.to:
                if isinstance(item, str) and item.startswith("client:"):
                    found.setdefault(item, Principal(kind="agent", client_id=item[7:]))
                elif isinstance(item, AudienceMatch) and item.attributes:
                    kind = item.kind or "agent"
                    label = kind + "{" + ",".join(
                        f"{k}={v}" for k, v in sorted(item.attributes.items())) + "}"
                    found.setdefault(label, Principal(
                        kind=kind, client_id=f"any-{kind}", attributes=dict(item.attributes),
                        subject=artist if kind == "artist" else None))
    return list(found.items())


def catalog_of(index: RightsIndex, artist: str) -> Iterator[ResourceRef]:
    for release in sorted(index.releases_of(artist), key=lambda r: r.release_id):
        yield parse_resource(f"release:{release.release_id}")
        for track in sorted(release.tracks):
            yield parse_resource(f"track:{track}")
            for hook in sorted(h for h in release.hooks if h.startswith(track + "/")):
                yield parse_resource(f"hook:{hook}")


def dry_run(index: RightsIndex, candidate: CompiledPolicy, *, replaces: str | None,
            max_resources: int = MAX_RESOURCES) -> DryRun:
    """Compare the live answers with those under ``candidate``; ``replaces`` is the key
    of the level the candidate's earlier version governed, if any (a policy may move)."""
    artist = candidate.artist
    new_key = target_key(artist, candidate.applies_to)
    live_policies = [p.policy for p in (index.policy(k) for k in {new_key, replaces or ""})
                     if p is not None]
    asked_as = audiences(artist, [candidate.policy, *live_policies])
    changed: dict[tuple[str, str, str, str, str], list[str]] = {}
    resources = questions = 0
    truncated = False
    for ref in catalog_of(index, artist):
        keys = _keys(artist, ref)
        if new_key not in keys and replaces not in keys:
            continue
        if resources == max_resources:
            truncated = True
            break
        resources += 1
        before = [p for k in keys if (p := index.policy(k)) is not None]
        after = [candidate if k == new_key else index.policy(k)
                 for k in keys if k != replaces or k == new_key]
        after_chain = [p for p in after if p is not None]
        for label, principal in asked_as:
            for purpose in PURPOSES:
                context: dict[str, Any] = {"purpose": purpose} if purpose else {}
                for action in SCOPES:
                    request = build_request(action, ref, principal=principal, context=context)
                    old = authorize(before, request).decision
                    new = authorize(after_chain, request).decision
                    questions += 1
                    if old != new:
                        changed.setdefault((ref.id, action, label, old, new), []).append(
                            purpose or "unstated")
    changes = [Change(resource=r, action=a, audience=who, before=old, after=new,
                      purposes=tuple(purposes))
               for (r, a, who, old, new), purposes in changed.items()]
    return DryRun(
        resources=resources, questions=questions,
        newly_permitted=tuple(c for c in changes if c.after == "permit"),
        newly_denied=tuple(c for c in changes if c.before == "permit"),
        other_changes=tuple(c for c in changes if "permit" not in (c.before, c.after)),
        truncated=truncated)


def _keys(artist: str, ref: ResourceRef) -> list[str]:
    keys = [f"artist:{artist}", f"release:{ref.release_id}"]
    if ref.track_id is not None:
        keys.append(f"track:{ref.release_id}/{ref.track_id}")
        if ref.hook_id is not None:
            keys.append(f"hook:{ref.release_id}/{ref.track_id}/{ref.hook_id}")
    return keys
