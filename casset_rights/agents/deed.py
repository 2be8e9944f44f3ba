"""The deed of a release: its terms in a form people read, generated from the engine.

``release_deed`` gives a ``Deed``: for the release, what each audience may do, for which
purpose, on what conditions and at what price (from ``ResourceTerms``), what its tracks
and hooks add or change, the hooks with their captions and windows, each track's
waveform where its audio has been analysed (``with_waveforms``), and the links to the
machine-readable forms. It is the JSON answer of ``GET /r/{release}`` and what the HTML
page (``api/deed_page.py``) renders.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import msgspec

from casset_rights.agents import odrl
from casset_rights.agents.terms import AUDIENCES, ResourceTerms, deed_path
from casset_rights.manifests.models import Manifest
from casset_rights.policy import SCOPES, LicenseRoute

SCOPE_LABELS: dict[str, str] = {
    "listen": "Stream or play it", "preview": "Hear the preview",
    "reference": "Cite and link to it",
    "quote": "Quote a short excerpt", "sample": "Sample it", "remix": "Remix it",
    "interpret": "Perform or cover it", "sync": "Set it to picture (sync)",
    "ai-input": "Ground AI answers on it", "ai-train": "Train AI models on it",
}
AUDIENCE_LABELS: dict[str, str] = {
    "public": "Anyone", "agent": "Registered AI agents", "partner": "Partner platforms"}
OBLIGATION_LABELS: dict[str, str] = {
    "attribute": "credit the artist", "link-back": "link back to the release",
    "register-derivative": "register what you make", "report-use": "report your use"}


class Answer(msgspec.Struct, frozen=True):
    """One audience's answer for one use: ``value`` with no purpose stated, and per
    purpose when that changes it; ``text`` says it in words."""

    value: str
    commercial: str
    non_commercial: str = msgspec.field(name="non-commercial")
    text: str = ""
    obligations: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    conditional: tuple[str, ...] = ()


class Use(msgspec.Struct, frozen=True):
    scope: str
    label: str
    answers: dict[str, Answer]


class RouteTerms(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    type: str
    scopes: tuple[str, ...]
    price: str | None = None
    amount: int | None = None
    currency: str | None = None
    term_days: int | None = None
    cap: int | None = None
    revenue_share_percent: int | float | None = None
    territory: tuple[str, ...] | None = None
    obligations: tuple[str, ...] = ()
    note: str | None = None
    how_to_ask: str = ""


class HookDeed(msgspec.Struct, frozen=True, omit_defaults=True):
    resource: str
    caption: str
    start_ms: int
    end_ms: int
    lyric: str | None = None
    differs: tuple[str, ...] = ()


WAVEFORM_BARS = 240  # enough for a page's width; the analysis keeps 1,000 points


class Waveform(msgspec.Struct, frozen=True):
    """The peaks of a track's analysed audio: ``min[i]`` and ``max[i]`` (-1 to 1) over
    the i-th of equal spans of the track, first to last."""

    min: tuple[float, ...]
    max: tuple[float, ...]


class TrackDeed(msgspec.Struct, frozen=True):
    resource: str
    title: str
    duration_ms: int
    hooks: tuple[HookDeed, ...]
    differs: tuple[str, ...] = ()
    waveform: Waveform | None = None  # None until the track's audio is analysed


def waveform_of(result: dict[str, Any] | None, *, bars: int = WAVEFORM_BARS) -> Waveform | None:
    """The waveform of an audio analysis result (its ``waveform`` peaks, as
    ``casset_rights.audio.analysis.waveform_peaks`` gives them) in at most ``bars``
    spans; None when there is no result or it holds no usable peaks."""
    peaks = (result or {}).get("waveform")
    if not isinstance(peaks, dict):
        return None
    lows, highs = peaks.get("min"), peaks.get("max")
    if not isinstance(lows, list) or not isinstance(highs, list) or not lows \
            or len(lows) != len(highs) \
            or not all(isinstance(v, int | float) for v in (*lows, *highs)):
        return None
    n, bars = len(lows), min(bars, len(lows))
    edges = [i * n // bars for i in range(bars + 1)]
    spans = list(pairwise(edges))
    return Waveform(min=tuple(_level(min(lows[a:b])) for a, b in spans),
                    max=tuple(_level(max(highs[a:b])) for a, b in spans))


def _level(value: float) -> float:
    return round(max(-1.0, min(1.0, float(value))), 3)


def with_waveforms(deed: Deed, waveforms: list[Waveform | None]) -> Deed:
    """The deed with its tracks' waveforms (one per track, in order; None for none)."""
    if not any(waveforms):
        return deed
    tracks = tuple(msgspec.structs.replace(t, waveform=w) if w else t
                   for t, w in zip(deed.tracks, waveforms, strict=True))
    return msgspec.structs.replace(deed, tracks=tracks)


class Deed(msgspec.Struct, frozen=True):
    release: str
    title: str
    artist: str
    artist_name: str
    version: int
    manifest_hash: str
    terms_url: str
    uses: tuple[Use, ...]
    routes: tuple[RouteTerms, ...]
    tracks: tuple[TrackDeed, ...]
    conditions: tuple[str, ...]
    policies: tuple[str, ...]
    machine_readable: dict[str, str]
    json_ld: tuple[dict[str, Any], ...]


def release_deed(terms: list[ResourceTerms], manifest: Manifest, *, base: str) -> Deed:
    """The deed of a release from its resources' terms (release first, as
    ``AgentTerms.release_terms`` gives them) and its head manifest."""
    release, by_id = terms[0], {t.ref.id: t for t in terms}
    rid = release.release.release_id
    url = base + deed_path(rid)
    routes: dict[str, LicenseRoute] = {}
    for t in terms:
        routes.update({r.name: r for r in t.routes()})
    tracks = []
    for track in manifest.tracks:
        track_terms = by_id[f"track:{rid}/{track.id}"]
        hooks = tuple(
            HookDeed(resource=f"hook:{rid}/{track.id}/{h.id}", caption=h.caption,
                     start_ms=h.start_ms, end_ms=h.end_ms,
                     lyric=None if isinstance(h.lyric, msgspec.UnsetType) else h.lyric,
                     differs=_differences(by_id[f"hook:{rid}/{track.id}/{h.id}"], track_terms))
            for h in track.hooks)
        tracks.append(TrackDeed(resource=track_terms.ref.id, title=track.title,
                                duration_ms=track.duration_ms, hooks=hooks,
                                differs=_differences(track_terms, release)))
    policies = sorted({p.id for t in terms for p in t.chain})
    machine = {"rsl": f"{url}/rsl.xml", "tdmrep": f"{base}/.well-known/tdmrep.json",
               "robots": f"{base}/robots.txt",
               **{f"odrl:{p}": f"{base}/odrl/policies/{p}" for p in policies}}
    chain = {p.id: p for t in terms for p in t.chain}
    return Deed(
        release=rid, title=release.release.title, artist=release.release.artist_id,
        artist_name=release.release.artist_name, version=release.release.version,
        manifest_hash=release.release.manifest_hash, terms_url=url,
        uses=tuple(Use(scope=s, label=SCOPE_LABELS[s],
                       answers={a: _answer(release, s, a) for a in AUDIENCES}) for s in SCOPES),
        routes=tuple(_route(routes[n], base=base, resource=release.ref.id)
                     for n in sorted(routes)),
        tracks=tuple(tracks),
        conditions=tuple(sorted({c for t in terms for c in t.conditions_beyond()})),
        policies=tuple(policies), machine_readable=machine,
        json_ld=(_schema_org(release, manifest, url=url, base=base),
                 *(odrl.policy_offer(chain[p], base=base) for p in policies)))


def _answer(terms: ResourceTerms, scope: str, audience: str) -> Answer:
    plain = terms.decision(scope, audience)
    values = {p: terms.value(scope, audience, p) for p in ("commercial", "non-commercial")}
    routes = sorted({r.name for p in (None, "commercial", "non-commercial")
                     for r in terms.decision(scope, audience, p).license_routes})
    permitted = next((terms.decision(scope, audience, p) for p in
                      (None, "non-commercial", "commercial")
                      if terms.value(scope, audience, p) == "permit"), plain)
    return Answer(value=plain.decision, commercial=values["commercial"],
                  non_commercial=values["non-commercial"],
                  text=_words(plain.decision, values),
                  obligations=tuple(o.type for o in permitted.obligations), routes=tuple(routes),
                  conditional=tuple(terms.conditional(scope, audience)))


def _words(plain: str, values: dict[str, str]) -> str:
    word = {"permit": "yes", "deny": "no", "license_required": "with a license"}
    if values["commercial"] == values["non-commercial"] == plain:
        return word[plain]
    return "; ".join(f"{p}: {word[v]}" for p, v in values.items())


def _differences(terms: ResourceTerms, parent: ResourceTerms) -> tuple[str, ...]:
    out = []
    for scope in SCOPES:
        for audience in AUDIENCES:
            mine, theirs = _answer(terms, scope, audience), _answer(parent, scope, audience)
            if (mine.text, mine.routes) != (theirs.text, theirs.routes):
                out.append(f"{SCOPE_LABELS[scope]}, for {AUDIENCE_LABELS[audience].lower()}: "
                           f"{mine.text}")
    return tuple(out)


def _route(route: LicenseRoute, *, base: str, resource: str) -> RouteTerms:
    price = None
    if route.price is not None:
        amount = route.price.amount
        price = f"{amount // 100}.{amount % 100:02d} {route.price.currency.upper()}"
    return RouteTerms(
        name=route.name, type=route.type, scopes=route.scopes, price=price,
        amount=None if route.price is None else route.price.amount,
        currency=None if route.price is None else route.price.currency,
        term_days=route.term_days, cap=route.cap,
        revenue_share_percent=route.revenue_share_percent, territory=route.territory,
        obligations=route.obligations, note=route.note,
        how_to_ask=f"POST {base}/v1/licenses/quotes with resource {resource} and route "
                   f"{route.name}")


def _schema_org(terms: ResourceTerms, manifest: Manifest, *, url: str,
                base: str) -> dict[str, Any]:
    return {
        # An inline context: the document expands offline, to the schema.org terms.
        "@context": {"@vocab": "https://schema.org/"}, "@type": "MusicAlbum", "@id": url,
        "name": manifest.title, "url": url, "license": url,
        "byArtist": {"@type": "MusicGroup", "name": terms.release.artist_name},
        "numTracks": len(manifest.tracks),
        "track": [{"@type": "MusicRecording", "name": t.title, "position": i + 1,
                   "duration": f"PT{t.duration_ms // 1000}S",
                   **({"isrcCode": t.isrc} if isinstance(t.isrc, str) else {}),
                   "url": f"{base}/v1/tracks/{manifest.id}/{t.id}"}
                  for i, t in enumerate(manifest.tracks)],
    }
