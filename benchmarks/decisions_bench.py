"""In-process decisions per second: our engine against cedarpy and casbin.

One run does everything, in this order:

1. generates the synthetic catalog of ``benchmarks/_catalog.py`` (10,000 releases, 30,000
   tracks, 60,000 hooks, 100 artists; 450 policies: 100 artist defaults, 200 release, 50
   track and 100 hook policies) and loads it through the real services on a temporary
   SQLite data folder (``open_services``, ``catalog.put_version``, ``policies.put``,
   ``index.refresh``), then the refiners' data: a tenth of the releases become
   derivatives of earlier ones (lineage edges at release, track or hook level) and a
   share of the agents and partners told ``license_required`` hold a license for it, so
   ``DecisionService.evaluate`` counts held licenses and ancestors (from memory);
2. translates every stored policy (as the service parsed it) into an equivalent Cedar
   policy set and an equivalent casbin model and policy, and checks that all three
   engines agree, permit versus not permit, on a sample of requests (policies alone),
   and that ``evaluate`` (memory) answers exactly as the same decision with licenses
   and ancestors read by SQL;
3. measures decisions per second, repeating each measurement and interleaving the
   engines (the machine is small and shared), and prints the medians side by side.

Run from the repository root::

    .venv/bin/python benchmarks/decisions_bench.py

``--small`` runs the same on a tenth of the catalog (a smoke test). See
docs/benchmarks.md for the results and how equivalence is defined.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _catalog  # noqa: E402
import msgspec  # noqa: E402
from _machine import cpu_model, load_average  # noqa: E402

from casset_rights.config import settings_from_env  # noqa: E402
from casset_rights.decisions.decide import (  # noqa: E402
    TRAVELLING,
    Ancestor,
    HeldGrant,
    decide,
)
from casset_rights.errors import UnknownResource  # noqa: E402
from casset_rights.licenses import store as license_store  # noqa: E402
from casset_rights.licenses.models import Grant, Quote  # noqa: E402
from casset_rights.lineage import graph  # noqa: E402
from casset_rights.policy import Decision, Policy, Request, authorize, build_request  # noqa: E402
from casset_rights.policy.model import AudienceMatch, Conditions, Rule  # noqa: E402
from casset_rights.resources import parse_resource  # noqa: E402
from casset_rights.services import Services, open_services  # noqa: E402

LEVEL_OF = {"release": 1, "track": 2, "hook": 3}
CEDAR_TYPE = {"release": "Release", "track": "Track", "hook": "Hook"}
ON_KIND = {"hooks": "hook", "tracks": "track", "releases": "release"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- loading through the real services ---------------------------------------------------------

def load(catalog: _catalog.Catalog, data_dir: Path) -> tuple[Services, dict[str, float]]:
    settings = settings_from_env({}, data_dir=str(data_dir), load_examples=False)
    services = open_services(settings)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    for artist_id, display_name, _ in catalog.artists:
        services.catalog.put_artist(artist_id, display_name=display_name)
    total = len(catalog.manifests)
    step = max(1, total // 10)
    for n, manifest in enumerate(catalog.manifests, start=1):
        services.catalog.put_version(manifest)
        if n % step == 0 or n == total:
            rate = n / (time.perf_counter() - start)
            log(f"  manifests {n:>6}/{total} ({rate:,.0f}/s)")
    timings["manifests"] = time.perf_counter() - start
    start = time.perf_counter()
    for name, text in catalog.policy_texts():
        services.policies.put(text, source_name=name)
    timings["policies"] = time.perf_counter() - start
    log(f"  policies {len(catalog.policies)} in {timings['policies']:.1f} s")
    start = time.perf_counter()
    services.index.refresh(force=True)
    timings["index"] = time.perf_counter() - start
    log(f"  index refreshed in {timings['index']:.1f} s")
    return services, timings


DERIVATIVE_SHARE = 0.10  # of releases, each deriving from one or two earlier releases
GRANTED_SHARE = 0.30  # of the mix's license_required answers to agents and partners
DAY_MS = 86_400_000


def _part_of(rng: random.Random, manifest: dict[str, Any]) -> str:
    """The release, one of its tracks or one of its hooks, at random."""
    rid = manifest["id"]
    track = rng.choice(manifest["tracks"])
    roll = rng.random()
    if roll < 0.4 or not track["hooks"]:
        return f"release:{rid}" if roll < 0.2 else f"track:{rid}/{track['id']}"
    return f"hook:{rid}/{track['id']}/{rng.choice(track['hooks'])['id']}"


def add_lineage(services: Services, catalog: _catalog.Catalog, *, seed: int) -> int:
    """Make a share of the releases derivatives of earlier ones (so the graph is
    acyclic, with chains), at release, track or hook level on both ends."""
    rng = random.Random(seed)
    manifests = catalog.manifests
    rows, now = [], int(time.time() * 1000)
    for i, manifest in enumerate(manifests):
        if i < 50 or rng.random() >= DERIVATIVE_SHARE:
            continue
        for parent_manifest in rng.sample(manifests[:i], k=rng.choice((1, 1, 2))):
            child, parent = _part_of(rng, manifest), _part_of(rng, parent_manifest)
            edge = graph.Edge(child=child, parent=parent, relationship="remix",
                              child_artist=manifest["artist"],
                              parent_artist=parent_manifest["artist"], grant_id=None,
                              revenue_share_ppm=0, registered_by="benchmark",
                              registered_at_ms=now)
            rows.append(graph.edge_row(edge, child=parse_resource(child),
                                       parent=parse_resource(parent)))
    with services.engine.begin() as conn:
        graph.insert_edges(conn, rows)
    return len(rows)


def add_licenses(services: Services, raw: list[dict[str, Any]], *, seed: int) -> int:
    """License a share of the mix's agents and partners for what they were told needs a
    license (the first route offered, on the resource asked about)."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    quotes, grants = [], []
    for r in raw:
        spec = r["principal"]
        if spec.kind not in ("agent", "partner") or rng.random() >= GRANTED_SHARE:
            continue
        asked = build_request(r["action"], r["resource"], principal=spec.principal(),
                              context=r["context"])
        decision, resolved = services.decisions.evaluate(asked)
        if decision.decision != "license_required":
            continue
        route = decision.license_routes[0]
        n = len(grants)
        common = dict(licensee=f"client:{spec.client_id}", principal=spec.body_as(),
                      artist_id=resolved.release.artist_id, resource=asked.resource.id,
                      scopes=route.scopes, route=route,
                      manifest_hash=resolved.release.manifest_hash, token="benchmark")
        quotes.append(Quote(id=f"q-{n}", context={}, created_at_ms=now,
                            expires_at_ms=now + 900_000, used_at_ms=now, **common))
        grants.append(Grant(id=f"lic-{n}", quote_id=f"q-{n}", request_id=None,
                            payment_id=None, status="active", granted_at_ms=now - 1000,
                            expires_at_ms=now + 365 * DAY_MS, revoked_at_ms=None,
                            revocation_reason=None, receipt_id=f"r-{n}", **common))
    with services.engine.begin() as conn:
        for quote, grant in zip(quotes, grants, strict=True):
            license_store.insert_quote(conn, quote)
            license_store.insert_grant(conn, grant)
    return len(grants)


def decided_from_sql(services: Services, request: Request) -> Decision:
    """The decision with held licenses and ancestors read by SQL (the recursive walk, the
    held-grants query), not from memory: what the in-memory indexes must agree with."""
    index = services.index
    resolved = index.resolve(request.resource)
    release = resolved.release
    request = msgspec.structs.replace(
        request, title=release.titles.get(request.resource.path, release.title),
        artist_name=release.artist_name)
    now = int(time.time() * 1000)
    licensee = (f"client:{request.principal.client_id}"
                if request.principal.kind in ("agent", "partner") else None)
    with services.engine.connect() as conn:
        ups = graph.ancestor_ids(conn, request.resource, max_depth=100)
        ancestors = [parse_resource(n) for n in sorted(ups, key=lambda n: (ups[n], n))]
        resources = {a.id for a in request.resource.ancestors()}
        for a in ancestors:
            resources.update(x.id for x in a.ancestors())
        held = [] if licensee is None else license_store.held_grants(
            conn, licensee, sorted(resources), at_ms=now)
    grants: dict[str, list[HeldGrant]] = {}
    for held_grant in [HeldGrant(id=g.id, resource=parse_resource(g.resource),
                                 scopes=frozenset(g.scopes), policy=g.route.policy,
                                 obligations=g.route.obligations,
                                 territory=None if g.route.territory is None
                                 else frozenset(g.route.territory),
                                 granted_at_ms=g.granted_at_ms, expires_at_ms=g.expires_at_ms,
                                 revoked_at_ms=g.revoked_at_ms) for g in held]:
        grants.setdefault(held_grant.resource.id, []).append(held_grant)
    found = []
    for a in ancestors:
        try:
            found.append(Ancestor(a, ups[a.id], index.resolve(a)))
        except UnknownResource:
            found.append(Ancestor(a, ups[a.id], None))
    return decide(resolved, request, grants=grants,
                  ancestors=found if request.action in TRAVELLING else (), at_ms=now)


def stored_policies(services: Services) -> list[Policy]:
    """Every policy head, parsed the way the service parsed it."""
    return [stored.model() for stored in services.policies.heads()]


def target_uid(policy: Policy) -> tuple[int, str, str]:
    """(level, kind, path) of what the policy governs: (0, "artist", A) or a resource."""
    if policy.applies_to == "artist":
        return 0, "artist", policy.artist
    kind, _, path = policy.applies_to.partition(":")
    return LEVEL_OF[kind], kind, path


def below(outer: Policy, inner: Policy) -> bool:
    """Whether ``inner`` governs something strictly inside what ``outer`` governs."""
    if inner.artist != outer.artist:
        return False
    lo, _, po = target_uid(outer)
    li, _, pi = target_uid(inner)
    if li <= lo:
        return False
    return lo == 0 or pi == po or pi.startswith(po + "/")


# -- Cedar -------------------------------------------------------------------------------------

def cedar_uid(kind: str, path: str) -> str:
    names = {"artist": "Artist", **CEDAR_TYPE}
    return f'{names[kind]}::{json.dumps(path)}'


def cedar_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def cedar_audience(rule: Rule, owner: str) -> str | None:
    """The rule's ``to`` as a Cedar condition on the principal (None: everyone)."""
    if rule.to == "any":
        return None
    terms = []
    for item in rule.to:
        if isinstance(item, str):
            if item.startswith("client:"):
                terms.append(f"principal.client_id == {json.dumps(item[7:])}")
            elif item == "artist":
                terms.append(f'(principal in Audience::"artist" && '
                             f'principal.subject == {json.dumps(owner)})')
            else:
                terms.append(f"principal in Audience::{json.dumps(item)}")
            continue
        assert isinstance(item, AudienceMatch)
        parts = []
        if item.kind is not None:
            parts.append(f"principal in Audience::{json.dumps(item.kind)}")
        if item.kind == "artist":
            parts.append(f"principal.subject == {json.dumps(owner)}")
        elif item.kind is None:  # an artist matches only on its own catalog
            parts.append(f'(!(principal in Audience::"artist") || '
                         f'principal.subject == {json.dumps(owner)})')
        for name, value in item.attributes.items():
            key = json.dumps(name)
            parts.append(f"(principal.attrs has {key} && "
                         f"principal.attrs[{key}] == {cedar_literal(value)})")
        terms.append("(" + " && ".join(parts or ["true"]) + ")")
    return "(" + " || ".join(terms) + ")"


def cedar_conditions(when: Conditions | None, *, missing: bool) -> list[str]:
    """``when`` as Cedar conditions on the context; a key the request leaves out makes a
    condition hold when ``missing`` (deny rules) and fail otherwise."""
    if when is None:
        return []
    out = []

    def guarded(key: str, test: str) -> str:
        if missing:
            return f"(!(context has {key}) || {test})"
        return f"(context has {key} && {test})"

    if when.purpose is not None:
        allowed = (when.purpose,) if isinstance(when.purpose, str) else tuple(when.purpose)
        test = " || ".join(f"context.purpose == {json.dumps(p)}" for p in sorted(set(allowed)))
        out.append(guarded("purpose", f"({test})"))
    if when.territory is not None:
        inside = when.territory.in_ is not None
        codes = when.territory.in_ if inside else when.territory.not_in or ()
        test = f"{json.dumps(sorted(codes))}.contains(context.territory)"
        out.append(guarded("territory", test if inside else f"!{test}"))
    if when.excerpt_seconds is not None:
        bounds = []
        if when.excerpt_seconds.min is not None:
            bounds.append(f"context.excerpt_seconds >= {int(when.excerpt_seconds.min)}")
        if when.excerpt_seconds.max is not None:
            bounds.append(f"context.excerpt_seconds <= {int(when.excerpt_seconds.max)}")
        out.append(guarded("excerpt_seconds", "(" + " && ".join(bounds) + ")"))
    if when.between is not None:
        raise NotImplementedError("time windows are not generated by the benchmark catalog")
    return out


def cedar_match(rule: Rule, owner: str, *, missing: bool, kind_test: bool) -> str:
    """Everything but the action and the policy's target: kind (``on``), audience, when."""
    parts = []
    if kind_test and rule.on:
        parts.append(f"resource is {CEDAR_TYPE[ON_KIND[rule.on]]}")
    audience = cedar_audience(rule, owner)
    if audience:
        parts.append(audience)
    parts.extend(cedar_conditions(rule.when, missing=missing))
    return " && ".join(parts) if parts else "true"


def cedar_policies(policies: Sequence[Policy]) -> tuple[str, dict[str, str]]:
    """The Cedar policy text of the whole rule set, and per artist.

    * permit rule  -> ``permit``;  deny rule -> ``forbid`` (missing context: holds);
    * route rule   -> for each of its scopes, a ``forbid`` that holds when the route
      matches, no permit of the same policy matches, and no policy below it speaks
      (has a matching permit or route). That is exactly "the most specific level that
      speaks decides, and a level that speaks only through routes answers
      license_required", so Cedar's Allow is our ``permit`` and Cedar's Deny is our
      ``deny`` or ``license_required``.
    """
    by_artist: dict[str, list[Policy]] = {}
    for policy in policies:
        by_artist.setdefault(policy.artist, []).append(policy)
    texts: dict[str, list[str]] = {}
    for policy in policies:
        out = texts.setdefault(policy.artist, [])
        _, kind, path = target_uid(policy)
        scope_resource = cedar_uid(kind, path)
        for rule in policy.rules:
            ann = f'@id("{policy.policy}#{rule.id}")'
            kind_scope = f" is {CEDAR_TYPE[ON_KIND[rule.on]]}" if rule.on else ""
            resource = f"resource{kind_scope} in {scope_resource}"
            effect = rule.effect
            if effect in ("permit", "deny"):
                actions = ", ".join(f"Action::{json.dumps(s)}" for s in rule.scopes)
                cond = cedar_match(rule, policy.artist, missing=effect == "deny",
                                   kind_test=False)
                word = "permit" if effect == "permit" else "forbid"
                when = "" if cond == "true" else f" when {{ {cond} }}"
                out.append(f"{ann}\n{word}(principal, action in [{actions}], {resource}){when};")
                continue
            # a route: one shadowing forbid per scope
            for scope in rule.scopes:
                route = cedar_match(rule, policy.artist, missing=False, kind_test=False)
                unless = []
                for other in policy.rules:
                    if other.effect == "permit" and scope in other.scopes:
                        unless.append(cedar_match(other, policy.artist, missing=False,
                                                  kind_test=True))
                for inner in by_artist[policy.artist]:
                    if not below(policy, inner):
                        continue
                    _, ikind, ipath = target_uid(inner)
                    for other in inner.rules:
                        if other.effect != "deny" and scope in other.scopes:
                            unless.append(f"resource in {cedar_uid(ikind, ipath)} && "
                                          + cedar_match(other, inner.artist, missing=False,
                                                        kind_test=True))
                cond = [route] + [f"!({u})" for u in unless]
                cond = [c for c in cond if c != "true"]
                when = f" when {{ {' && '.join(cond)} }}" if cond else ""
                out.append(f'@id("{policy.policy}#{rule.id}:{scope}")\n'
                           f"forbid(principal, action == Action::{json.dumps(scope)}, "
                           f"{resource}){when};")
    per_artist = {artist: "\n".join(lines) for artist, lines in texts.items()}
    return "\n".join(per_artist.values()), per_artist


def cedar_entities(catalog: _catalog.Catalog) -> list[dict[str, Any]]:
    def uid(t: str, i: str) -> dict[str, str]:
        return {"type": t, "id": i}

    out: list[dict[str, Any]] = []
    for kind in ("public", "agent", "partner", "artist"):
        out.append({"uid": uid("Audience", kind), "attrs": {}, "parents": []})
    for p in catalog.principals:
        out.append({"uid": uid("Client", p.uid),
                    "attrs": {"kind": p.kind, "client_id": p.client_id or "",
                              "subject": p.subject or "", "attrs": dict(p.attributes)},
                    "parents": [uid("Audience", p.kind)]})
    for artist_id, _, _ in catalog.artists:
        out.append({"uid": uid("Artist", artist_id), "attrs": {}, "parents": []})
    for m in catalog.manifests:
        out.append({"uid": uid("Release", m["id"]), "attrs": {},
                    "parents": [uid("Artist", m["artist"])]})
        for t in m["tracks"]:
            track = f"{m['id']}/{t['id']}"
            out.append({"uid": uid("Track", track), "attrs": {},
                        "parents": [uid("Release", m["id"])]})
            for h in t["hooks"]:
                out.append({"uid": uid("Hook", f"{track}/{h['id']}"), "attrs": {},
                            "parents": [uid("Track", track)]})
    return out


def cedar_request(raw: dict[str, Any]) -> dict[str, Any]:
    kind, _, path = raw["resource"].partition(":")
    return {"principal": f'Client::{json.dumps(raw["principal"].uid)}',
            "action": f'Action::{json.dumps(raw["action"])}',
            "resource": cedar_uid(kind, path),
            # a JSON string, so cedarpy does not re-serialize a dict on every call
            "context": json.dumps(raw["context"])}


# -- casbin ------------------------------------------------------------------------------------

CASBIN_MODEL = """
[request_definition]
r = sub, obj, act, kind, purpose, terr, secs

[policy_definition]
p = priority, sub, obj, act, kind, purpose, tin, tout, xmin, xmax, miss, eft

[role_definition]
g = _, _
g2 = _, _

[policy_effect]
e = priority(p.eft) || deny

[matchers]
m = r.act == p.act && (p.kind == "*" || p.kind == r.kind) && g2(r.obj, p.obj) && \
g(r.sub, p.sub) && \
(p.purpose == "*" || (r.purpose == "" && p.miss == "1") || \
(r.purpose != "" && r.purpose in p.purpose)) && \
(p.tin == "*" || (r.terr == "" && p.miss == "1") || (r.terr != "" && r.terr in p.tin)) && \
(p.tout == "*" || (r.terr == "" && p.miss == "1") || (r.terr != "" && r.terr not in p.tout)) && \
(p.xmin == "*" || (r.secs < 0 && p.miss == "1") || (r.secs >= 0 && r.secs >= num(p.xmin))) && \
(p.xmax == "*" || (r.secs < 0 && p.miss == "1") || (r.secs >= 0 && r.secs <= num(p.xmax)))
"""


def _bars(values: Sequence[str]) -> str:
    return "|" + "|".join(values) + "|"


def casbin_rules(policies: Sequence[Policy], catalog: _catalog.Catalog,
                 ) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """(p lines, g lines, g2 lines).

    The effect is ``priority(p.eft) || deny``: the first matching line decides. Every
    deny line comes first (priority 1), so a matching deny wins wherever it sits
    (deny-override); then, from the most specific level (hook) to the artist level, the
    level's permit lines (allow) and then its route lines (deny: license_required is not
    a permit). The first line to match is therefore a deny if any deny matches, else a
    rule of the most specific level that speaks, a permit before a route.
    """
    groups: dict[str, Callable[[_catalog.PrincipalSpec], bool]] = {}

    def audience_groups(rule: Rule, owner: str) -> list[str]:
        if rule.to == "any":
            return ["any"]
        names = []
        for item in rule.to:
            if isinstance(item, str):
                if item.startswith("client:"):
                    names.append(item)
                elif item == "artist":
                    names.append(f"owner:{owner}")
                else:
                    names.append(f"kind:{item}")
                continue
            key = json.dumps([item.kind, sorted(item.attributes.items()), owner])
            name = "match-" + hashlib.sha1(key.encode()).hexdigest()[:12]
            groups[name] = _attribute_member(item, owner)
            names.append(name)
        return names

    lines: list[list[str]] = []
    for policy in policies:
        level, kind, path = target_uid(policy)
        obj = f"artist:{path}" if kind == "artist" else f"{kind}:{path}"
        for rule in policy.rules:
            effect = rule.effect
            priority = 1 if effect == "deny" else 2 + 2 * (3 - level) + (effect == "route")
            eft = "allow" if effect == "permit" else "deny"
            w = rule.when or Conditions()
            purpose = "*"
            if w.purpose is not None:
                purpose = _bars((w.purpose,) if isinstance(w.purpose, str) else w.purpose)
            tin = tout = "*"
            if w.territory is not None:
                if w.territory.in_ is not None:
                    tin = _bars(w.territory.in_)
                else:
                    tout = _bars(w.territory.not_in or ())
            xmin = xmax = "*"
            if w.excerpt_seconds is not None:
                if w.excerpt_seconds.min is not None:
                    xmin = str(w.excerpt_seconds.min)
                if w.excerpt_seconds.max is not None:
                    xmax = str(w.excerpt_seconds.max)
            rkind = ON_KIND[rule.on] if rule.on else "*"
            for scope in rule.scopes:
                for sub in audience_groups(rule, policy.artist):
                    lines.append([str(priority), sub, obj, scope, rkind, purpose, tin, tout,
                                  xmin, xmax, "1" if effect == "deny" else "0", eft])
    lines.sort(key=lambda line: int(line[0]))  # stable: the order within a priority stays
    g: list[list[str]] = []
    for p in catalog.principals:
        g.append([p.uid, "any"])
        g.append([p.uid, f"kind:{p.kind}"])
        if p.client_id:
            g.append([p.uid, f"client:{p.client_id}"])
        if p.kind == "artist" and p.subject:
            g.append([p.uid, f"owner:{p.subject}"])
        for name, member in groups.items():
            if member(p):
                g.append([p.uid, name])
    g2: list[list[str]] = []
    for m in catalog.manifests:
        g2.append([f"release:{m['id']}", f"artist:{m['artist']}"])
        for t in m["tracks"]:
            track = f"{m['id']}/{t['id']}"
            g2.append([f"track:{track}", f"release:{m['id']}"])
            for h in t["hooks"]:
                g2.append([f"hook:{track}/{h['id']}", f"track:{track}"])
    return lines, g, g2


def _attribute_member(item: AudienceMatch, owner: str) -> Callable[[_catalog.PrincipalSpec], bool]:
    """Group membership for an audience item ``{kind, attributes}``: the principal's kind
    and verified attributes (type and value), and an artist only on its own catalog."""
    def member(p: _catalog.PrincipalSpec) -> bool:
        if item.kind is not None and p.kind != item.kind:
            return False
        if p.kind == "artist" and p.subject != owner:
            return False
        for name, value in item.attributes.items():
            got = p.attributes.get(name, object())
            if type(got) is not type(value) or got != value:
                return False
        return True
    return member


def casbin_enforcer(policies: Sequence[Policy], catalog: _catalog.Catalog, folder: Path):  # type: ignore[no-untyped-def]
    import casbin

    logging.getLogger("casbin").setLevel(logging.ERROR)  # it logs every denial otherwise
    lines, g, g2 = casbin_rules(policies, catalog)
    model_file = folder / "casbin_model.conf"
    model_file.write_text(CASBIN_MODEL)
    policy_file = folder / "casbin_policy.csv"
    with policy_file.open("w") as out:
        for line in lines:
            out.write("p, " + ", ".join(line) + "\n")
        for line in g:
            out.write("g, " + ", ".join(line) + "\n")
        for line in g2:
            out.write("g2, " + ", ".join(line) + "\n")
    enforcer = casbin.Enforcer(str(model_file), str(policy_file))
    enforcer.add_function("num", float)
    return enforcer, len(lines), len(g) + len(g2)


def casbin_request(raw: dict[str, Any]) -> tuple[Any, ...]:
    ctx = raw["context"]
    kind = raw["resource"].partition(":")[0]
    purpose = f"|{ctx['purpose']}|" if "purpose" in ctx else ""
    terr = f"|{ctx['territory']}|" if "territory" in ctx else ""
    secs = ctx.get("excerpt_seconds", -1)
    return (raw["principal"].uid, raw["resource"], raw["action"], kind, purpose, terr, secs)


# -- measuring ---------------------------------------------------------------------------------

class Engine:
    def __init__(self, name: str, run: Callable[[int], None], size: int, note: str = "") -> None:
        self.name = name
        self.run = run  # run(n): decide the first n prepared requests
        self.size = size
        self.note = note
        self.rates: list[float] = []
        self.n = size

    def calibrate(self, seconds: float) -> None:
        """Pick n so one measurement takes about ``seconds``."""
        n = min(self.size, 50)
        while True:
            start = time.perf_counter()
            self.run(n)
            took = time.perf_counter() - start
            if took > 0.2 or n >= self.size:
                break
            n = min(self.size, n * 4)
        self.n = max(1, min(self.size, int(n * seconds / max(took, 1e-6))))

    def measure(self) -> None:
        start = time.perf_counter()
        self.run(self.n)
        self.rates.append(self.n / (time.perf_counter() - start))

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def machine() -> dict[str, str]:
    return {"nproc": str(os.cpu_count()), "cpu": cpu_model(),
            "python": platform.python_version(), "platform": platform.platform()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true",
                        help="10 artists x 100 releases (a smoke test)")
    parser.add_argument("--requests", type=int, default=20_000,
                        help="distinct prepared requests in the mix (default 20000)")
    parser.add_argument("--agreement", type=int, default=2_000,
                        help="requests of the mix checked for agreement (default 2000)")
    parser.add_argument("--edge", type=int, default=1_000,
                        help="more requests checked for agreement, all aimed at resources "
                             "under release, track or hook policies (default 1000)")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per engine")
    parser.add_argument("--seconds", type=float, default=1.5,
                        help="target duration of one measurement (default 1.5)")
    parser.add_argument("--seed", type=int, default=_catalog.SEED)
    args = parser.parse_args(argv)
    command = "python benchmarks/decisions_bench.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    wall = time.perf_counter()
    load_before = load_average()

    import cedarpy

    log("generating the catalog ...")
    catalog = _catalog.build_catalog(artists=10 if args.small else 100, seed=args.seed)
    n_tracks = sum(len(m["tracks"]) for m in catalog.manifests)
    n_hooks = sum(len(t["hooks"]) for m in catalog.manifests for t in m["tracks"])
    with tempfile.TemporaryDirectory(prefix="casset-bench-") as tmp:
        log(f"loading {len(catalog.manifests)} releases, {n_tracks} tracks, {n_hooks} hooks "
            f"and {len(catalog.policies)} policies through the services into {tmp} ...")
        services, load_times = load(catalog, Path(tmp) / "data")
        try:
            return _run(args, command, catalog, services, load_times, cedarpy, Path(tmp),
                        n_tracks, n_hooks, wall, load_before)
        finally:
            services.close()


def _run(args: argparse.Namespace, command: str, catalog: _catalog.Catalog,
         services: Services, load_times: dict[str, float], cedarpy: Any, tmp: Path,
         n_tracks: int, n_hooks: int, wall: float, load_before: str) -> int:
    policies = stored_policies(services)
    raw = catalog.random_requests(args.requests, seed=args.seed + 1)
    # The agreement sample: the first requests of the mix, plus requests aimed only at
    # resources under release, track and hook policies (where the levels interact).
    edge = catalog.random_requests(args.edge, seed=args.seed + 2, special_share=1.0)
    principal_of = {p.uid: p.principal() for p in catalog.principals}
    log("adding lineage edges and licenses (the refiners' data) ...")
    n_edges = add_lineage(services, catalog, seed=args.seed + 3)
    n_grants = add_licenses(services, raw, seed=args.seed + 4)
    services.index.refresh(force=True)  # held licenses and the graph, into memory
    log(f"  {n_edges} edges, {n_grants} licenses")

    def prepare_ours(batch: list[dict[str, Any]],
                     ) -> tuple[list[Request], list[tuple[Any, Request]]]:
        """Requests built once; for the pure engine, chains resolved once too."""
        built = [build_request(r["action"], r["resource"],
                               principal=principal_of[r["principal"].uid],
                               context=r["context"]) for r in batch]
        pairs = []
        for req in built:
            resolved = services.index.resolve(req.resource)
            release = resolved.release
            pairs.append((resolved.chain, msgspec.structs.replace(
                req, title=release.titles.get(req.resource.path, release.title),
                artist_name=release.artist_name)))
        return built, pairs

    requests, pure = prepare_ours(raw)
    evaluate = services.decisions.evaluate
    decide_inputs = [(r["action"], r["resource"], principal_of[r["principal"].uid],
                      r["context"]) for r in raw]

    # -- cedar ----------------------------------------------------------------------------
    log("translating to Cedar ...")
    start = time.perf_counter()
    cedar_text, cedar_by_artist = cedar_policies(policies)
    policy_set = cedarpy.PolicySet.from_str(cedar_text)
    sets_by_artist = {a: cedarpy.PolicySet.from_str(t) for a, t in cedar_by_artist.items()}
    entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(catalog)))
    cedar_setup = time.perf_counter() - start
    n_cedar = len(policy_set)
    log(f"  {n_cedar} Cedar policies, {len(entities)} entities, parsed once in "
        f"{cedar_setup:.1f} s")
    cedar_reqs = [cedar_request(r) for r in raw]
    cedar_partition = [sets_by_artist[catalog.artist_of(r.resource.release_id)]
                       for r in requests]

    # -- casbin ---------------------------------------------------------------------------
    log("translating to casbin ...")
    start = time.perf_counter()
    enforcer, n_lines, n_links = casbin_enforcer(policies, catalog, tmp)
    casbin_setup = time.perf_counter() - start
    log(f"  {n_lines} policy lines, {n_links} role links, loaded once in {casbin_setup:.1f} s")
    casbin_reqs = [casbin_request(r) for r in raw]

    # -- agreement ------------------------------------------------------------------------
    check_raw = raw[:args.agreement] + edge
    sample = len(check_raw)
    log(f"checking agreement on {sample} requests ({min(args.agreement, len(raw))} from the "
        f"mix, {len(edge)} aimed at release/track/hook policies) ...")
    check_requests, check_pure = prepare_ours(check_raw)
    check_cedar = [cedar_request(r) for r in check_raw]
    ours = [authorize(chain, req) for chain, req in check_pure]
    cedar_results = cedarpy.is_authorized_batch(check_cedar, policy_set, entities)
    cedar_part = [cedarpy.is_authorized(q, sets_by_artist[catalog.artist_of(
        r.resource.release_id)], entities)
        for q, r in zip(check_cedar, check_requests, strict=True)]
    casbin_results = [enforcer.enforce(*casbin_request(r)) for r in check_raw]
    via_service = [evaluate(req)[0] for req in check_requests]
    via_sql = [decided_from_sql(services, req) for req in check_requests]
    counts = {"permit": 0, "deny": 0, "license_required": 0}
    levels: dict[str, int] = {}
    disagree: dict[str, list[int]] = {"cedar": [], "cedar-part": [], "casbin": [],
                                      "service": []}
    cedar_errors = 0
    refined = {"by a license": 0, "by ancestors": 0}
    for i in range(sample):
        mine = ours[i].decision == "permit"
        counts[ours[i].decision] += 1
        level = ours[i].reasons[0].level or "default"
        levels[level] = levels.get(level, 0) + 1
        if cedar_results[i].allowed != mine:
            disagree["cedar"].append(i)
        if cedar_part[i].allowed != mine:
            disagree["cedar-part"].append(i)
        if casbin_results[i] != mine:
            disagree["casbin"].append(i)
        if via_service[i] != via_sql[i]:
            disagree["service"].append(i)
        rules = [r.rule for r in via_service[i].reasons]
        refined["by a license"] += any(r.startswith("grant:") for r in rules)
        refined["by ancestors"] += any(r.startswith("ancestor") for r in rules)
        cedar_errors += bool(cedar_results[i].diagnostics.errors)
    for name, bad in disagree.items():
        for i in bad[:5]:
            r = check_raw[i]
            log(f"  DISAGREE {name}: {r['action']} {r['resource']} as {r['principal'].uid} "
                f"{r['context']}: ours {ours[i].decision} {ours[i].reasons}")

    # -- throughput -----------------------------------------------------------------------
    def run_pure(n: int) -> None:
        for chain, req in pure[:n]:
            authorize(chain, req)

    def run_evaluate(n: int) -> None:
        for req in requests[:n]:
            evaluate(req)

    def run_decide(n: int) -> None:
        for action, resource, principal, context in decide_inputs[:n]:
            evaluate(build_request(action, resource, principal=principal, context=context))

    is_authorized = cedarpy.is_authorized

    def run_cedar(n: int) -> None:
        for q in cedar_reqs[:n]:
            is_authorized(q, policy_set, entities)

    def run_cedar_batch(n: int) -> None:
        for k in range(0, n, 1000):
            cedarpy.is_authorized_batch(cedar_reqs[k:min(n, k + 1000)], policy_set, entities)

    def run_cedar_part(n: int) -> None:
        for q, ps in zip(cedar_reqs[:n], cedar_partition[:n], strict=True):
            is_authorized(q, ps, entities)

    enforce = enforcer.enforce

    def run_casbin(n: int) -> None:
        for q in casbin_reqs[:n]:
            enforce(*q)

    size = len(raw)
    engines = [
        Engine("ours: authorize(chain, request)", run_pure, size,
               "the pure engine: requests and chains prepared"),
        Engine("ours: DecisionService.evaluate", run_evaluate, size,
               "index look-up, held licenses and ancestors from memory, decide(); "
               "no receipt"),
        Engine("ours: build_request + evaluate", run_decide, size,
               "from raw input (what POST /v1/decisions does before signing)"),
        Engine("cedarpy: is_authorized", run_cedar, size,
               f"one PolicySet ({n_cedar} policies) + Entities, parsed once"),
        Engine("cedarpy: is_authorized_batch", run_cedar_batch, size,
               "the same, 1,000 requests per call"),
        Engine("cedarpy: per-artist PolicySet", run_cedar_part, size,
               "is_authorized on the resource's artist's PolicySet (pre-selected)"),
        Engine("casbin: Enforcer.enforce", run_casbin, size,
               f"{n_lines} policy lines, {n_links} role links"),
    ]
    log(f"calibrating (about {args.seconds:.1f} s per measurement) ...")
    for engine in engines:
        engine.calibrate(args.seconds)
    for rep in range(1, args.repeats + 1):
        for engine in engines:
            gc.collect()
            engine.measure()
        log(f"  round {rep}/{args.repeats}: " + ", ".join(
            f"{e.name.split(':')[0]} {e.rates[-1]:,.0f}" for e in engines))

    # -- report ---------------------------------------------------------------------------
    info = machine()
    by_name = {e.name: e for e in engines}
    ours_pure = by_name["ours: authorize(chain, request)"].median
    ours_eval = by_name["ours: DecisionService.evaluate"].median
    cedar = by_name["cedarpy: is_authorized"].median
    cedar_batch = by_name["cedarpy: is_authorized_batch"].median
    cedar_best = max(cedar, cedar_batch)
    cedar_part_rate = by_name["cedarpy: per-artist PolicySet"].median
    casbin_rate = by_name["casbin: Enforcer.enforce"].median
    print()
    print("## In-process decisions")
    print()
    print(f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}; "
          f"load average {load_before} before the run, {load_average()} after")
    print(f"catalog: {len(catalog.artists)} artists, {len(catalog.manifests)} releases, "
          f"{n_tracks} tracks, {n_hooks} hooks, {len(policies)} policies "
          f"(loaded in {sum(load_times.values()):.0f} s: manifests "
          f"{load_times['manifests']:.0f} s, policies {load_times['policies']:.1f} s, "
          f"index {load_times['index']:.1f} s)")
    print(f"refiners' data: {n_edges} lineage edges ({DERIVATIVE_SHARE:.0%} of releases "
          f"derive from earlier ones), {n_grants} licenses held by agents and partners; in "
          f"the agreement sample, answers decided " + ", ".join(
              f"{k} {v}" for k, v in refined.items()))
    print(f"mix: {len(raw)} prepared requests (seed {args.seed + 1}); agreement sample "
          f"{sample}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + "; decided at level: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())))
    print()
    print(f"| engine | decisions/s (median of {args.repeats}) | min .. max | "
          f"requests per run | notes |")
    print("| --- | ---: | ---: | ---: | --- |")
    for e in engines:
        print(f"| {e.name} | {e.median:,.0f} | {min(e.rates):,.0f} .. {max(e.rates):,.0f} "
              f"| {e.n:,} | {e.note} |")
    print()
    print("| ratio | value | target |")
    print("| --- | ---: | --- |")
    print(f"| ours (authorize) / cedarpy (is_authorized) | {ours_pure / cedar:.1f}x | >= 3x |")
    print(f"| ours (authorize) / cedarpy (best of single and batch) | "
          f"{ours_pure / cedar_best:.1f}x | >= 3x |")
    print(f"| ours (evaluate) / cedarpy (best of single and batch) | "
          f"{ours_eval / cedar_best:.1f}x | |")
    print(f"| ours (evaluate, refiners on) / cedarpy (per-artist PolicySet) | "
          f"{ours_eval / cedar_part_rate:.1f}x | >= 10x |")
    print(f"| ours (authorize) / cedarpy (per-artist PolicySet) | "
          f"{ours_pure / cedar_part_rate:.1f}x | |")
    print(f"| ours (authorize) / casbin | {ours_pure / casbin_rate:,.0f}x | |")
    print(f"| ours (evaluate) / casbin | {ours_eval / casbin_rate:,.0f}x | |")
    print()
    print("| agreement (permit vs not permit) | requests | agree |")
    print("| --- | ---: | ---: |")
    for name, label in (("cedar", "cedarpy, one PolicySet"),
                        ("cedar-part", "cedarpy, per-artist PolicySet"),
                        ("casbin", "casbin"),
                        ("service", "DecisionService.evaluate (memory) vs the same "
                                    "decision with licenses and ancestors read by SQL")):
        bad = len(disagree[name])
        print(f"| {label} | {sample} | {sample - bad} ({100 * (sample - bad) / sample:.2f}%) |")
    print(f"\nCedar evaluation errors in the sample: {cedar_errors}")
    print(f"setup: Cedar parse {cedar_setup:.1f} s, casbin load {casbin_setup:.1f} s; "
          f"total run {time.perf_counter() - wall:.0f} s")
    print(f"\nreproduce: {command.strip()}  (from the repository root, with .venv/bin/python)")
    failures = sum(len(v) for v in disagree.values())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
