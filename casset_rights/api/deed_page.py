"""The deed of a release as one server-rendered HTML page (``GET /r/{release}``).

No script runs and nothing is loaded from elsewhere: the styles are inline, each track's
timeline (its waveform where its audio has been analysed, its hook windows marked) is
inline SVG, and the machine-readable forms are
linked and embedded as JSON-LD (``<script type="application/ld+json">``, data, not code).
Every value is HTML-escaped; JSON-LD is escaped so no ``</script>`` can close it early.
"""

from __future__ import annotations

import json
from html import escape

from casset_rights.agents.deed import (
    AUDIENCE_LABELS,
    OBLIGATION_LABELS,
    Deed,
    TrackDeed,
    Waveform,
)

PAGE_HEADERS = {
    # style-src for the inline <style>; nothing else may load (no script at all).
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Vary": "Accept",
}

_STYLE = """
:root{color-scheme:light;--ink:#1b1b1f;--muted:#4a4a55;--line:#c9c9d3;--yes:#0b5d1e;
--no:#8a1010;--ask:#6b4300;--band:#f3f1ea}
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);
background:#fff;max-width:60rem;margin:0 auto;padding:1.5rem 1rem 4rem}
a{color:#1d3f8f}a:focus-visible{outline:3px solid #1d3f8f;outline-offset:2px}
header p{margin:.2rem 0;color:var(--muted)}h1{margin:.2rem 0 .4rem;font-size:2rem}
h2{margin-top:2.2rem;border-bottom:2px solid var(--line);padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:1rem 0}caption{text-align:left;
font-weight:600;padding:.3rem 0}th,td{border:1px solid var(--line);padding:.45rem .6rem;
text-align:left;vertical-align:top}thead th{background:var(--band)}
.permit{color:var(--yes);font-weight:600}.deny{color:var(--no);font-weight:600}
.license_required{color:var(--ask);font-weight:600}.small{font-size:.9rem;color:var(--muted)}
.route{border:1px solid var(--line);border-radius:.4rem;padding:.6rem 1rem;margin:1rem 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.4rem 0}
dt{font-weight:600}dd{margin:0}svg{display:block;width:100%;height:auto;max-width:48rem}
blockquote{margin:.3rem 0 .3rem 1rem;font-style:italic}code{font-size:.85em;word-break:break-all}
.skip{position:absolute;left:-10000px}.skip:focus{left:1rem;top:1rem;background:#fff}
"""
_MARK = {"permit": "✓", "deny": "✗", "license_required": "$"}


def deed_page(deed: Deed) -> str:
    """The HTML page of ``deed``."""
    title = f"{deed.title} by {deed.artist_name}: terms of use"
    json_ld = "".join(
        f'<script type="application/ld+json">{_json_for_html(doc)}</script>'
        for doc in deed.json_ld)
    body = "".join([
        '<a class="skip" href="#uses">Skip to the terms</a>',
        "<header>",
        f"<p>Terms of use</p><h1>{escape(deed.title)}</h1>",
        f"<p>by {escape(deed.artist_name)} · version {deed.version} · manifest "
        f"<code>{escape(deed.manifest_hash)}</code></p>",
        "</header><main>",
        _uses(deed), _routes(deed), _tracks(deed), _conditions(deed), _machine(deed),
        "</main>",
    ])
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title>"
            f'<link rel="license" href="{escape(deed.terms_url)}">'
            f'<link rel="alternate" type="application/rsl+xml" '
            f'href="{escape(deed.machine_readable["rsl"])}">'
            f"<style>{_STYLE}</style>{json_ld}</head><body>{body}</body></html>")


def _json_for_html(document: object) -> str:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _uses(deed: Deed) -> str:
    head = "".join(f'<th scope="col">{escape(AUDIENCE_LABELS[a])}</th>'
                   for a in AUDIENCE_LABELS)
    rows = []
    for use in deed.uses:
        cells = []
        for audience in AUDIENCE_LABELS:
            answer = use.answers[audience]
            extra = []
            if answer.obligations:
                extra.append("you must " + ", ".join(
                    OBLIGATION_LABELS[o] for o in answer.obligations))
            if answer.conditional:
                extra.append(escape("; ".join(answer.conditional)))
            if answer.routes:
                extra.append("license: " + ", ".join(
                    f'<a href="#route-{escape(r)}">{escape(r)}</a>' for r in answer.routes))
            note = f'<div class="small">{"; ".join(extra)}</div>' if extra else ""
            cells.append(f'<td><span class="{answer.value}">{_MARK[answer.value]} '
                         f"{escape(answer.text)}</span>{note}</td>")
        rows.append(f'<tr><th scope="row">{escape(use.label)}</th>{"".join(cells)}</tr>')
    return ('<section id="uses" aria-labelledby="uses-h"><h2 id="uses-h">What you may do</h2>'
            '<p class="small">✓ yes · ✗ no · $ with a license (see below). Where the purpose '
            "matters, the answer names it.</p>"
            f"<table><caption>Uses of {escape(deed.title)} and who may make them</caption>"
            f'<thead><tr><th scope="col">Use</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def _routes(deed: Deed) -> str:
    if not deed.routes:
        return ""
    parts = ['<section aria-labelledby="routes-h"><h2 id="routes-h">Licenses</h2>']
    for route in deed.routes:
        facts = [("Covers", ", ".join(route.scopes)), ("Kind", route.type)]
        if route.price:
            facts.append(("Price", route.price))
        if route.term_days:
            facts.append(("Term", f"{route.term_days} days"))
        if route.cap:
            facts.append(("Cap", f"{route.cap} licenses"))
        if route.revenue_share_percent is not None:
            facts.append(("Revenue share", f"{route.revenue_share_percent} %"))
        if route.territory:
            facts.append(("Territory", ", ".join(route.territory)))
        if route.obligations:
            facts.append(("Then you must", ", ".join(
                OBLIGATION_LABELS[o] for o in route.obligations)))
        if route.note:
            facts.append(("Note", route.note))
        facts.append(("How to ask", route.how_to_ask))
        items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts)
        parts.append(f'<div class="route" id="route-{escape(route.name)}">'
                     f"<h3>{escape(route.name)}</h3><dl>{items}</dl></div>")
    parts.append("</section>")
    return "".join(parts)


def _tracks(deed: Deed) -> str:
    parts = ['<section aria-labelledby="tracks-h"><h2 id="tracks-h">Tracks and hooks</h2>']
    for number, track in enumerate(deed.tracks, 1):
        parts.append(f"<h3>{number}. {escape(track.title)} "
                     f'<span class="small">({_clock(track.duration_ms)})</span></h3>')
        parts.append(_timeline(track))
        if track.differs:
            parts.append("<p>Terms of this track that differ from the release's:</p><ul>"
                         + "".join(f"<li>{escape(d)}</li>" for d in track.differs) + "</ul>")
        if track.hooks:
            items = []
            for hook in track.hooks:
                lyric = f"<blockquote>{escape(hook.lyric)}</blockquote>" if hook.lyric else ""
                differs = ("<ul>" + "".join(f"<li>{escape(d)}</li>" for d in hook.differs)
                           + "</ul>") if hook.differs else ""
                items.append(f"<li><strong>{escape(hook.resource.rsplit('/', 1)[-1])}</strong>"
                             f" ({_clock(hook.start_ms)}\u2013{_clock(hook.end_ms)}): "
                             f"{escape(hook.caption)}{lyric}{differs}</li>")
            parts.append(f'<ul aria-label="Hooks of {escape(track.title)}">'
                         f'{"".join(items)}</ul>')
    parts.append("</section>")
    return "".join(parts)


def _timeline(track: TrackDeed) -> str:
    """The track's length as a bar, or its waveform where its audio has been analysed,
    with its hook windows marked over it; titled and described for screen readers."""
    width, height = 600, 40
    total = max(track.duration_ms, 1)
    # Over a waveform the windows span its height, translucent so the peaks show.
    y, h, see_through = (2, 36, ' fill-opacity="0.35"') if track.waveform else (6, 28, "")
    marks = []
    for hook in track.hooks:
        x = round(hook.start_ms / total * width, 1)
        w = max(round((hook.end_ms - hook.start_ms) / total * width, 1), 2)
        marks.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#b35900"'
                     f'{see_through}><title>{escape(hook.caption)}</title></rect>')
    described = "; ".join(f"{h.resource.rsplit('/', 1)[-1]} from {_clock(h.start_ms)} to "
                          f"{_clock(h.end_ms)}" for h in track.hooks) or "no hooks"
    sid = escape(track.resource.replace(":", "-").replace("/", "-"))
    if track.waveform:
        what = "Waveform"
        described = f"The waveform of the analysed audio, hook windows marked: {described}"
        drawing = _waveform(track.waveform, width=width, height=height)
    else:
        what = "Timeline"
        drawing = f'<rect x="0" y="16" width="{width}" height="8" fill="#c9c9d3"/>'
    return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="{sid}-t {sid}-d">'
            f'<title id="{sid}-t">{what} of {escape(track.title)}</title>'
            f'<desc id="{sid}-d">{escape(described)}</desc>'
            f'{drawing}{"".join(marks)}'
            "</svg>")


def _waveform(waveform: Waveform, *, width: int, height: int) -> str:
    """The peaks as one filled path: the maxima left to right, the minima back."""
    middle, scale = height / 2, height / 2 - 1
    step = width / len(waveform.max)
    top = [f"{i * step:.1f},{middle - hi * scale:.1f} {(i + 1) * step:.1f},"
           f"{middle - hi * scale:.1f}" for i, hi in enumerate(waveform.max)]
    bottom = [f"{(i + 1) * step:.1f},{middle - lo * scale:.1f} {i * step:.1f},"
              f"{middle - lo * scale:.1f}" for i, lo in reversed(list(enumerate(waveform.min)))]
    return (f'<path class="waveform" fill="#3b3b8f" d="M{" L".join(top)} '
            f'L{" L".join(bottom)} Z"/>')


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def _conditions(deed: Deed) -> str:
    if not deed.conditions:
        return ""
    items = "".join(f"<li>{escape(c)}</li>" for c in deed.conditions)
    return ('<section aria-labelledby="cond-h"><h2 id="cond-h">Also depends on</h2>'
            "<p>These rules depend on more than who you are and your purpose; ask the "
            f"decision endpoint with your context.</p><ul>{items}</ul></section>")


def _machine(deed: Deed) -> str:
    items = "".join(f'<li><a href="{escape(url)}">{escape(name)}</a></li>'
                    for name, url in deed.machine_readable.items())
    return ('<section aria-labelledby="mr-h"><h2 id="mr-h">Machine-readable terms</h2>'
            f"<ul>{items}</ul><p class=\"small\">This page is also JSON: ask for it with "
            "<code>Accept: application/json</code>.</p></section>")
