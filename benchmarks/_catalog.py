"""A synthetic catalog for the benchmarks: artists, release manifests, policy files,
principals and a realistic mix of decision requests, all from one seed.

Sizes (defaults): 100 artists x 100 releases = 10,000 releases, 3 tracks each (30,000
tracks), 2 hooks per track (60,000 hooks). Every artist has a default policy in one of
six postures modelled on the shipped ``policies/*.yaml`` (open to non-commercial remix of
hooks; no AI of any kind; commercial use through paid routes and sync on request; a
streaming label; a fan-remix artist; a strict label). On top of those: 200 release
policies (two per artist: pre-release paid listening, promo remixes, free grounding,
territory restrictions), 50 track policies (uncleared samples, longer quotes) and 100
hook policies (a guest vocal that may not be sampled, a paid sample route that
shadows the artist's free one).

Everything is deterministic for a given seed. Only the standard library and the
project's own packages are used, so the HTTP benchmark and others can import it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SEED = 20250611
SCOPES = ("listen", "preview", "reference", "quote", "sample", "remix", "interpret", "sync",
          "ai-input", "ai-train")
TERRITORIES = ("US", "CA", "GB", "IE", "FR", "DE", "JP", "BR")
HOOK_NAMES = ("intro", "chorus", "drop", "bridge", "outro")
POSTURES = ("open", "no-ai", "commercial", "streaming", "fan-remix", "strict")

_ADJ = ("velvet", "paper", "neon", "hollow", "amber", "silver", "quiet", "static", "lunar",
        "copper")
_NOUN = ("harbor", "engine", "garden", "signal", "season", "orbit", "tapes", "lanterns",
         "ferry", "choir")


# -- principals ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrincipalSpec:
    """A caller: ``uid`` names it for cedar/casbin; the rest is what ``Principal`` holds."""

    uid: str
    kind: str
    client_id: str | None = None
    subject: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def principal(self):  # type: ignore[no-untyped-def]
        from casset_rights.principal import Principal

        return Principal(kind=self.kind, client_id=self.client_id,  # type: ignore[arg-type]
                         subject=self.subject, attributes=dict(self.attributes))

    def body_as(self) -> dict[str, Any]:
        return {"kind": self.kind, "client_id": self.client_id, "subject": self.subject,
                "attributes": dict(self.attributes)}


PARTNERS = tuple(f"partner-{n:02d}" for n in range(1, 9))


def principals(artist_ids: list[str]) -> list[PrincipalSpec]:
    out = [PrincipalSpec(uid="public", kind="public")]
    verified_values: tuple[Any, ...] = (True, True, False, 1, None)  # 1 is not true
    for n in range(1, 13):
        value = verified_values[n % len(verified_values)]
        attrs: dict[str, Any] = {} if value is None else {"operator-verified": value}
        if n % 3 == 0:
            attrs["purpose-declared"] = "research"
        out.append(PrincipalSpec(uid=f"agent-{n:02d}", kind="agent",
                                 client_id=f"agent-{n:02d}", attributes=attrs))
    for n, cid in enumerate(PARTNERS, start=1):
        attrs = {"verified-name": f"Partner {n}"} if n % 2 else {}
        out.append(PrincipalSpec(uid=cid, kind="partner", client_id=cid, attributes=attrs))
    for artist in artist_ids:
        out.append(PrincipalSpec(uid=f"artist:{artist}", kind="artist", subject=artist))
    return out


# -- the catalog -----------------------------------------------------------------------------

@dataclass
class Catalog:
    seed: int
    artists: list[tuple[str, str, str]]            # (id, display name, posture)
    manifests: list[dict[str, Any]]
    policies: list[tuple[str, dict[str, Any]]]     # (source name, document)
    principals: list[PrincipalSpec]
    # Resources under a release, track or hook policy (to aim part of the mix at them).
    special_releases: list[str]
    special_tracks: list[str]
    special_hooks: list[str]

    @property
    def release_ids(self) -> list[str]:
        return [m["id"] for m in self.manifests]

    def artist_of(self, release_id: str) -> str:
        return self._artist_of[release_id]

    def __post_init__(self) -> None:
        self._artist_of = {m["id"]: m["artist"] for m in self.manifests}
        self._hooks = {f"{m['id']}/{t['id']}": [h["id"] for h in t["hooks"]]
                       for m in self.manifests for t in m["tracks"]}
        self._tracks = {m["id"]: [t["id"] for t in m["tracks"]] for m in self.manifests}

    def policy_yaml(self, document: dict[str, Any]) -> str:
        import yaml

        head = "# yaml-language-server: $schema=../schemas/policy.schema.json\n"
        return head + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)

    def policy_texts(self) -> Iterator[tuple[str, str]]:
        for name, doc in self.policies:
            yield name, self.policy_yaml(doc)

    # -- requests ------------------------------------------------------------------------

    def random_requests(self, count: int, *, seed: int | None = None,
                        special_share: float = 0.25) -> list[dict[str, Any]]:
        """A mix of decision requests: ``{"action", "resource", "principal", "context"}``
        (``principal`` a PrincipalSpec). A ``special_share`` of them is aimed at
        resources under release, track or hook policies."""
        rng = random.Random(self.seed * 7 + 1 if seed is None else seed)
        releases = self.release_ids
        by_kind: dict[str, list[PrincipalSpec]] = {}
        owner: dict[str, PrincipalSpec] = {}
        for p in self.principals:
            by_kind.setdefault(p.kind, []).append(p)
            if p.kind == "artist":
                owner[p.subject or ""] = p
        out = []
        for _ in range(count):
            roll = rng.random()
            if roll < special_share:
                pick = rng.random()
                if pick < 0.5:
                    resource = self._below_release(rng, rng.choice(self.special_releases))
                elif pick < 0.75:
                    track = rng.choice(self.special_tracks)
                    resource = (f"track:{track}" if rng.random() < 0.4 else
                                f"hook:{track}/{rng.choice(self._hooks[track])}")
                else:
                    resource = f"hook:{rng.choice(self.special_hooks)}"
            else:
                resource = self._below_release(rng, rng.choice(releases))
            action = rng.choice(SCOPES)
            kind_roll = rng.random()
            if kind_roll < 0.30:
                principal = by_kind["public"][0]
            elif kind_roll < 0.65:
                principal = rng.choice(by_kind["agent"])
            elif kind_roll < 0.85:
                principal = rng.choice(by_kind["partner"])
            else:
                release_id = resource.split(":", 1)[1].split("/", 1)[0]
                principal = (owner[self.artist_of(release_id)] if rng.random() < 0.6
                             else rng.choice(by_kind["artist"]))
            out.append({"action": action, "resource": resource, "principal": principal,
                        "context": self._context(rng, action)})
        return out

    def _below_release(self, rng: random.Random, release_id: str) -> str:
        roll = rng.random()
        if roll < 0.2:
            return f"release:{release_id}"
        track = f"{release_id}/{rng.choice(self._tracks[release_id])}"
        if roll < 0.55:
            return f"track:{track}"
        return f"hook:{track}/{rng.choice(self._hooks[track])}"

    @staticmethod
    def _context(rng: random.Random, action: str) -> dict[str, Any]:
        ctx: dict[str, Any] = {}
        roll = rng.random()
        if roll < 0.4:
            ctx["purpose"] = "commercial"
        elif roll < 0.75:
            ctx["purpose"] = "non-commercial"
        if rng.random() < 0.8:
            ctx["territory"] = rng.choice(TERRITORIES)
        if rng.random() < (0.8 if action in ("quote", "preview") else 0.1):
            ctx["excerpt_seconds"] = rng.randint(1, 45)
        return ctx


def build_catalog(*, artists: int = 100, releases_per_artist: int = 100,
                  tracks_per_release: int = 3, hooks_per_track: int = 2,
                  seed: int = SEED) -> Catalog:
    rng = random.Random(seed)
    names = [(a, n) for a in _ADJ for n in _NOUN]
    rng.shuffle(names)
    artist_rows = []
    for i in range(artists):
        adj, noun = names[i % len(names)]
        suffix = "" if i < len(names) else f"-{i // len(names)}"
        artist_id = f"{adj}-{noun}{suffix}"
        artist_rows.append((artist_id, f"The {adj.title()} {noun.title()}{suffix}",
                            POSTURES[i % len(POSTURES)]))
    manifests: list[dict[str, Any]] = []
    policies: list[tuple[str, dict[str, Any]]] = []
    special_releases: list[str] = []
    special_tracks: list[str] = []
    special_hooks: list[str] = []
    for i, (artist, _display, posture) in enumerate(artist_rows):
        default_id = f"{artist}-default"
        policies.append((f"{default_id}.yaml", _artist_policy(artist, posture, i)))
        release_policy_at = {rng.randrange(releases_per_artist) for _ in range(2)}
        while len(release_policy_at) < 2:
            release_policy_at.add(rng.randrange(releases_per_artist))
        track_policy_at = rng.randrange(releases_per_artist) if i % 2 == 0 else None
        hook_policy_at = rng.randrange(releases_per_artist)
        for r in range(releases_per_artist):
            release_id = f"{artist}-r{r:03d}"
            doc = _manifest(rng, release_id, artist, tracks_per_release, hooks_per_track)
            if r in release_policy_at:
                pid = f"{release_id}-policy"
                variant = (i + r) % 4
                policies.append((f"{pid}.yaml", _release_policy(pid, artist, release_id,
                                                                 variant)))
                doc["policy"] = pid
                special_releases.append(release_id)
            else:
                doc["policy"] = default_id
            if r == track_policy_at:
                track = f"{release_id}/{doc['tracks'][0]['id']}"
                pid = f"{release_id}-1-policy"
                policies.append((f"{pid}.yaml", _track_policy(pid, artist, track, i)))
                special_tracks.append(track)
            if r == hook_policy_at:
                t = doc["tracks"][-1]
                hook = f"{release_id}/{t['id']}/{t['hooks'][0]['id']}"
                pid = f"{release_id}-{t['id']}-{t['hooks'][0]['id']}-policy"
                policies.append((f"{pid}.yaml", _hook_policy(pid, artist, hook, i)))
                special_hooks.append(hook)
            manifests.append(doc)
    return Catalog(seed=seed, artists=artist_rows, manifests=manifests, policies=policies,
                   principals=principals([a for a, _, _ in artist_rows]),
                   special_releases=special_releases, special_tracks=special_tracks,
                   special_hooks=special_hooks)


def _hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _manifest(rng: random.Random, release_id: str, artist: str, tracks: int,
              hooks: int) -> dict[str, Any]:
    track_docs = []
    for t in range(1, tracks + 1):
        duration = rng.randint(150_000, 300_000)
        hook_docs = []
        starts = sorted(rng.sample(range(0, duration - 30_000, 1000), hooks))
        for h, (name, start) in enumerate(zip(rng.sample(HOOK_NAMES, hooks), starts, strict=True)):
            hook_docs.append({"id": name, "start_ms": start,
                              "end_ms": start + rng.randint(8, 30) * 1000,
                              "caption": f"{name.title()} of track {t}"})
            if h == 0 and rng.random() < 0.5:
                hook_docs[-1]["lyric"] = "Play it back, play it back"
        first = rng.choice((50, 55, 60))
        track_docs.append({
            "id": str(t),
            "title": f"{release_id.replace('-', ' ').title()} {t}",
            "isrc": f"QZ{rng.choice('ABCDEFGH')}{rng.randint(10, 99)}25{rng.randint(0, 99999):05d}",
            "duration_ms": duration,
            "audio": {"content_hash": _hash(f"{release_id}/{t}"), "media_type": "audio/flac"},
            "credits": [
                {"name": "Lead Performer", "roles": ["performer", "composer"], "split": first},
                {"name": "Producer", "roles": ["producer"], "split": 100 - first},
            ],
            "hooks": hook_docs,
        })
    return {
        "id": release_id, "version": 1, "previous": None, "artist": artist,
        "title": release_id.replace("-", " ").title(), "tracks": track_docs,
        "visuals": [{"kind": "cover",
                     "uri": f"https://media.casset.example/covers/{release_id}.jpg"}],
        "policy": "",  # set by the caller
        "created_at": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T09:00:00Z",
    }


# -- policies --------------------------------------------------------------------------------

def _base(policy_id: str, artist: str, applies_to: str, rules: list[dict[str, Any]],
          routes: dict[str, Any] | None = None, attribution: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"policy": policy_id, "artist": artist, "applies_to": applies_to}
    if attribution:
        doc["attribution"] = attribution
    doc["rules"] = rules
    if routes:
        doc["routes"] = routes
    return doc


def _artist_policy(artist: str, posture: str, i: int) -> dict[str, Any]:
    pid = f"{artist}-default"
    attribution = "{title} by {artist} (casset)"
    partner = PARTNERS[i % len(PARTNERS)]
    if posture == "open":  # like nightglass
        quote_max = (10, 15, 20)[i % 3]
        return _base(pid, artist, "artist", [
            {"id": "reference-and-preview", "permit": ["reference", "preview"], "to": "any",
             "obligations": ["attribute"]},
            {"id": "short-quotes-for-agents", "permit": ["quote"], "to": ["agent", "partner"],
             "when": {"excerpt_seconds": {"max": quote_max}},
             "obligations": ["attribute", "link-back"]},
            {"id": "hooks-remix-for-fun", "permit": ["remix", "sample"], "on": "hooks",
             "when": {"purpose": "non-commercial"},
             "obligations": ["attribute", "register-derivative"]},
            {"id": "commercial-remix", "route": "remix-license", "for": ["remix", "sample"],
             "when": {"purpose": "commercial"}},
            {"id": "sync-ask-me", "route": "sync-request", "for": ["sync"]},
            {"id": "the-artist-does-anything", "permit": ["listen", "remix", "sample", "sync"],
             "to": ["artist"]},
            {"id": "no-training", "deny": ["ai-train"], "to": "any"},
        ], {
            "remix-license": {"type": "paid", "price": {"amount": 4900, "currency": "usd"},
                              "term_days": 365, "revenue_share_percent": 10, "cap": 100,
                              "obligations": ["attribute", "register-derivative", "report-use"]},
            "sync-request": {"type": "request", "note": "Tell me about the picture."},
        }, attribution)
    if posture == "no-ai":  # like mara-quell
        return _base(pid, artist, "artist", [
            {"id": "reference-and-preview", "permit": ["reference", "preview"], "to": "any",
             "obligations": ["attribute", "link-back"]},
            {"id": "no-ai-of-any-kind", "deny": ["ai-input", "ai-train"], "to": "any"},
        ], None, attribution)
    if posture == "commercial":  # like the-ferrymen
        return _base(pid, artist, "artist", [
            {"id": "reference-and-preview", "permit": ["reference", "preview"], "to": "any",
             "obligations": ["attribute"]},
            {"id": "samples-and-remixes-are-paid", "route": "derivative-license",
             "for": ["sample", "remix", "interpret"]},
            {"id": "sync-where-we-have-a-rate", "route": "sync-license", "for": ["sync"],
             "when": {"territory": {"in": ["US", "CA", "GB", "IE"]}}},
            {"id": "sync-anywhere-on-request", "route": "sync-request", "for": ["sync"]},
            {"id": "ai-input-for-partners", "route": "ai-input-yearly", "for": ["ai-input"],
             "to": ["partner"]},
            {"id": "standing-agreement", "route": "agreement", "for": ["listen", "sync"],
             "to": [f"client:{partner}"]},
            {"id": "no-training", "deny": ["ai-train"], "to": "any"},
        ], {
            "derivative-license": {"type": "paid", "price": {"amount": 25000, "currency": "usd"},
                                   "term_days": 730, "revenue_share_percent": 15,
                                   "obligations": ["attribute", "register-derivative",
                                                   "report-use"]},
            "sync-license": {"type": "paid", "price": {"amount": 150000, "currency": "usd"},
                             "term_days": 365, "territory": ["US", "CA", "GB", "IE"],
                             "obligations": ["attribute", "report-use"]},
            "sync-request": {"type": "request", "note": "Send the picture and the territories."},
            "ai-input-yearly": {"type": "paid", "price": {"amount": 120000, "currency": "usd"},
                                "term_days": 365,
                                "obligations": ["attribute", "link-back", "report-use"]},
            "agreement": {"type": "partner", "partners": [partner],
                          "note": "Covered by the standing agreement; report plays monthly.",
                          "obligations": ["report-use"]},
        }, attribution)
    if posture == "streaming":
        return _base(pid, artist, "artist", [
            {"id": "reference-preview-quote", "permit": ["reference", "preview", "quote"],
             "to": "any", "when": {"excerpt_seconds": {"max": 30}},
             "obligations": ["attribute"]},
            {"id": "reference-without-excerpt", "permit": ["reference"], "to": "any",
             "obligations": ["attribute"]},
            {"id": "stream-where-licensed", "permit": ["listen"], "to": "any",
             "when": {"territory": {"not_in": ["JP", "BR"]}},
             "obligations": ["attribute", "link-back"]},
            {"id": "grounding-for-verified-agents", "permit": ["ai-input"],
             "to": [{"kind": "agent", "attributes": {"operator-verified": True}}, "partner"],
             "obligations": ["attribute", "link-back", "report-use"]},
            {"id": "grounding-for-other-agents", "route": "grounding", "for": ["ai-input"],
             "to": ["agent"]},
            {"id": "label-catalog-sync", "route": "sync-license", "for": ["sync"],
             "to": ["partner", "agent"], "when": {"purpose": "commercial"}},
            {"id": "no-commercial-training", "deny": ["ai-train"], "to": "any",
             "when": {"purpose": "commercial"}},
            {"id": "research-training", "route": "research", "for": ["ai-train"],
             "to": [{"attributes": {"purpose-declared": "research"}}]},
        ], {
            "grounding": {"type": "free", "term_days": 30,
                          "obligations": ["attribute", "link-back"]},
            "sync-license": {"type": "paid", "price": {"amount": 90000, "currency": "eur"},
                             "term_days": 365},
            "research": {"type": "request", "note": "Tell us about the model and the data use."},
        }, attribution)
    if posture == "fan-remix":
        return _base(pid, artist, "artist", [
            {"id": "everything-for-fun", "permit": ["remix", "sample", "interpret"],
             "to": "any", "when": {"purpose": "non-commercial"},
             "obligations": ["attribute", "register-derivative"]},
            {"id": "reference-and-preview", "permit": ["reference", "preview"], "to": "any"},
            {"id": "commercial-remix-in-north-america", "route": "remix-na", "for": ["remix"],
             "when": {"purpose": "commercial", "territory": {"in": ["US", "CA"]}}},
            {"id": "streams-for-partners", "permit": ["listen"], "to": ["partner", "artist"],
             "obligations": ["report-use"]},
            {"id": "no-sync-for-anonymous", "deny": ["sync"], "to": ["public"]},
            {"id": "no-ai-input-for-anonymous", "deny": ["ai-input"], "to": ["public"]},
            {"id": "training-on-request", "route": "training", "for": ["ai-train"],
             "to": ["partner"]},
            {"id": "quotes", "permit": ["quote"], "to": ["agent", "partner", "public"],
             "when": {"excerpt_seconds": {"min": 1, "max": 20}}, "obligations": ["attribute"]},
        ], {
            "remix-na": {"type": "paid", "price": {"amount": 1500, "currency": "usd"},
                         "term_days": 365, "territory": ["US", "CA"]},
            "training": {"type": "request", "note": "Which model, which data, which licence."},
        }, attribution)
    # strict
    return _base(pid, artist, "artist", [
        {"id": "reference-for-machines", "permit": ["reference"], "to": ["agent", "partner"],
         "obligations": ["attribute", "link-back"]},
        {"id": "preview-hooks", "permit": ["preview"], "on": "hooks", "to": "any",
         "obligations": ["attribute"]},
        {"id": "partner-listening", "route": "agreement", "for": ["listen"],
         "to": [f"client:{partner}",
                {"kind": "partner", "attributes": {"verified-name": "Partner 1"}}]},
        {"id": "sync-paid", "route": "sync-license", "for": ["sync"],
         "when": {"purpose": "commercial"}},
        {"id": "no-public-derivatives", "deny": ["remix", "sample"], "to": ["public"]},
        {"id": "derivatives-paid", "route": "derivative-license",
         "for": ["remix", "sample", "interpret"]},
        {"id": "no-ai", "deny": ["ai-input", "ai-train"], "to": "any"},
    ], {
        "agreement": {"type": "partner", "partners": [partner], "note": "Standing agreement."},
        "sync-license": {"type": "paid", "price": {"amount": 200000, "currency": "usd"},
                         "term_days": 365},
        "derivative-license": {"type": "paid", "price": {"amount": 50000, "currency": "usd"},
                               "term_days": 365, "revenue_share_percent": 20},
    }, attribution)


def _release_policy(pid: str, artist: str, release_id: str, variant: int) -> dict[str, Any]:
    target = f"release:{release_id}"
    if variant == 0:  # pre-release: listening is paid (shadows any artist permit), no AI
        return _base(pid, artist, target, [
            {"id": "pre-release-listening", "route": "pre-release", "for": ["listen"]},
            {"id": "owner-listens", "permit": ["listen"], "to": ["artist"]},
            {"id": "no-grounding-before-release", "deny": ["ai-input"], "to": "any"},
        ], {"pre-release": {"type": "paid", "price": {"amount": 299, "currency": "usd"},
                            "term_days": 30}})
    if variant == 1:  # promo: free remixes of anything, commercial remix routed
        return _base(pid, artist, target, [
            {"id": "promo-remix", "permit": ["remix", "sample"], "to": "any",
             "when": {"purpose": "non-commercial"},
             "obligations": ["attribute", "register-derivative"]},
            {"id": "promo-commercial", "route": "promo-license", "for": ["remix", "sample"],
             "when": {"purpose": "commercial"}},
            {"id": "promo-stream", "permit": ["listen"], "to": "any"},
        ], {"promo-license": {"type": "paid", "price": {"amount": 990, "currency": "usd"},
                              "term_days": 90}},
            "{title}, from the promo release by {artist}")
    if variant == 2:  # like midnight-tapes: free grounding on asking, streams for all
        return _base(pid, artist, target, [
            {"id": "stream-for-everyone", "permit": ["listen"], "to": "any",
             "obligations": ["attribute", "link-back"]},
            {"id": "grounding-on-asking", "route": "grounding", "for": ["ai-input"],
             "to": ["agent", "partner"]},
        ], {"grounding": {"type": "free", "term_days": 30,
                          "obligations": ["attribute", "link-back"]}})
    # variant 3: rights not cleared in some territories (a conditional deny: a request
    # that states no territory is denied), quotes up to 30 s for agents
    return _base(pid, artist, target, [
        {"id": "not-cleared-in-de-fr", "deny": ["listen", "preview", "sync"], "to": "any",
         "when": {"territory": {"in": ["DE", "FR"]}}},
        {"id": "long-quotes", "permit": ["quote"], "to": ["agent"],
         "when": {"excerpt_seconds": {"max": 30}}, "obligations": ["attribute"]},
    ])


def _track_policy(pid: str, artist: str, track: str, i: int) -> dict[str, Any]:
    target = f"track:{track}"
    if i % 4 == 0:  # an uncleared sample on this track
        return _base(pid, artist, target, [
            {"id": "uncleared-sample", "deny": ["sample", "remix", "sync"], "to": "any"},
        ])
    return _base(pid, artist, target, [
        {"id": "lyric-quotes", "permit": ["quote"], "to": "any",
         "when": {"excerpt_seconds": {"max": 40}}, "obligations": ["attribute", "link-back"]},
        {"id": "commercial-sync-paid", "route": "track-sync", "for": ["sync"],
         "when": {"purpose": "commercial", "territory": {"not_in": ["JP"]}}},
    ], {"track-sync": {"type": "paid", "price": {"amount": 50000, "currency": "usd"},
                       "term_days": 365}})


def _hook_policy(pid: str, artist: str, hook: str, i: int) -> dict[str, Any]:
    target = f"hook:{hook}"
    if i % 2 == 0:  # like the chorus of midnight-tapes
        return _base(pid, artist, target, [
            {"id": "guest-vocal-not-sampled", "deny": ["sample"], "to": "any"},
            {"id": "quote-the-hook", "permit": ["quote"], "to": ["public", "agent", "partner"],
             "when": {"excerpt_seconds": {"max": 30}}, "obligations": ["attribute", "link-back"]},
        ])
    # the hook's sample is paid: a route here shadows a free permit at the artist level
    return _base(pid, artist, target, [
        {"id": "hook-sample-paid", "route": "hook-sample", "for": ["sample", "remix"]},
        {"id": "hook-preview", "permit": ["preview"], "to": "any"},
    ], {"hook-sample": {"type": "paid", "price": {"amount": 9900, "currency": "usd"},
                        "term_days": 365}})
