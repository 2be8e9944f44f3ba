"""The deed at ``/r/{release}``: HTML for people, JSON on request, generated from the
engine, loading nothing, usable without JavaScript, and drawn by a real browser.

The browser test drives Debian's ``chromium`` through Playwright. Requests the page makes
are answered by the real app through Litestar's test client (``page.route``), so every
request the browser would send elsewhere is seen and counted. Without chromium the test
is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import io
import os
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from pyld import jsonld

from casset_rights.agents import odrl
from casset_rights.agents.deed import SCOPE_LABELS
from casset_rights.policy import SCOPES

BASE = "http://rights.test"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync"]


class _Page(HTMLParser):
    """Collects what the tests check: tags with attributes and the JSON-LD blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.json_ld: list[str] = []
        self._in_ld = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_ld = tag == "script" and dict(attrs).get("type") == "application/ld+json"

    def handle_endtag(self, tag: str) -> None:
        self._in_ld = False

    def handle_data(self, data: str) -> None:
        if self._in_ld:
            self.json_ld.append(data)


def test_the_deed_is_html_that_loads_nothing_and_runs_no_script(client, services) -> None:
    response = client.get("/r/midnight-tapes")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["content-usage"]  # the deed is a terms URL with terms headers
    page = _Page()
    page.feed(response.text)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts and all(a.get("type") == "application/ld+json" for a in scripts)
    assert not [a for _, a in page.tags if "src" in a]  # nothing is fetched
    assert not [a for t, a in page.tags if t == "link" and a.get("rel") == "stylesheet"]
    assert ("html", {"lang": "en"}) in page.tags
    # Every use, the hooks' captions and the paid route's price are on the page.
    deed = services.agents.deed("midnight-tapes")
    for scope in SCOPES:
        assert SCOPE_LABELS[scope] in response.text
    for track in deed.tracks:
        for hook in track.hooks:
            assert hook.caption.replace("'", "&#x27;") in response.text
    assert "49.00 USD" in response.text
    assert 'id="route-remix-license"' in response.text
    # The embedded JSON-LD is the schema.org album and the chain's ODRL offers.
    documents = [jsonld.expand(__import__("json").loads(text)) for text in page.json_ld]
    types = {t for doc in documents for node in doc for t in node.get("@type", [])}
    assert {"https://schema.org/MusicAlbum", odrl.ODRL + "Offer"} <= types


def test_the_deed_is_json_when_asked(client, services) -> None:
    response = client.get("/r/midnight-tapes", headers={"accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["terms_url"] == f"{BASE}/r/midnight-tapes"
    terms = services.agents.terms("release:midnight-tapes")
    for use in body["uses"]:
        for audience, answer in use["answers"].items():
            assert answer["value"] == terms.value(use["scope"], audience)
            assert answer["commercial"] == terms.value(use["scope"], audience, "commercial")
    quote = next(u for u in body["uses"] if u["scope"] == "quote")
    assert quote["answers"]["agent"]["conditional"] == ["yes if the excerpt is at most 15 s"]
    assert body["machine_readable"]["rsl"] == f"{BASE}/r/midnight-tapes/rsl.xml"
    assert client.get("/r/no-such-release").status_code == 404


WAVEFORM_COLOUR = (0x3B, 0x3B, 0x8F)


def analyse_first_track(services: Any, release: str = "midnight-tapes") -> str:
    """Store a finished analysis of the release's first track: the waveform peaks the
    analysis computes (``waveform_peaks``) of a tone swelling from quiet to loud."""
    import numpy as np

    from casset_rights.audio.analysis import waveform_peaks

    track = services.catalog.track(f"{release}/1")
    rate = 8000
    seconds = np.arange(rate * 30) / rate
    mono = (np.sin(2 * np.pi * 220 * seconds) * np.linspace(0.05, 0.9, seconds.size))
    services.audio.records.queue_analysis(track.audio_hash)
    services.audio.records.finish_analysis(track.audio_hash,
                                           {"waveform": waveform_peaks(mono.astype(np.float32))})
    return str(track.title)


def test_an_analysed_track_shows_its_waveform_with_the_hooks_marked(client, services) -> None:
    before = client.get("/r/midnight-tapes", headers={"accept": "application/json"}).json()
    assert all(t["waveform"] is None for t in before["tracks"])
    title = analyse_first_track(services)
    body = client.get("/r/midnight-tapes", headers={"accept": "application/json"}).json()
    first, *others = body["tracks"]
    assert len(first["waveform"]["max"]) == len(first["waveform"]["min"]) == 240
    assert all(-1 <= lo <= hi <= 1 for lo, hi in zip(first["waveform"]["min"],
                                                      first["waveform"]["max"], strict=True))
    assert first["waveform"]["max"][0] < 0.1 < 0.85 < first["waveform"]["max"][-1]  # swells
    assert all(t["waveform"] is None for t in others)
    page = _Page()
    page.feed(client.get("/r/midnight-tapes").text)
    svgs = [attrs for tag, attrs in page.tags if tag == "svg"]
    assert all(a["role"] == "img" and a["aria-labelledby"] for a in svgs)
    paths = [attrs for tag, attrs in page.tags if tag == "path"]
    assert [p["class"] for p in paths] == ["waveform"]
    html = client.get("/r/midnight-tapes").text
    assert f"<title id=\"track-midnight-tapes-1-t\">Waveform of {title}</title>" in html
    assert "The waveform of the analysed audio, hook windows marked:" in html


def test_a_waveform_is_read_only_from_usable_peaks() -> None:
    from casset_rights.agents.deed import waveform_of

    for result in (None, {}, {"waveform": []}, {"waveform": {"min": [], "max": []}},
                   {"waveform": {"min": [0.1], "max": [0.2, 0.3]}},
                   {"waveform": {"min": ["x"], "max": [1]}}):
        assert waveform_of(result) is None
    peaks = {"waveform": {"min": [-0.1, -0.5, -0.2, -2.0], "max": [0.3, 0.2, 0.9, 0.1]}}
    assert waveform_of(peaks, bars=2) is not None
    two = waveform_of(peaks, bars=2)
    assert two is not None and two.min == (-0.5, -1.0) and two.max == (0.3, 0.9)


def test_hostile_text_in_a_caption_is_escaped(client, services) -> None:
    import msgspec

    from casset_rights.api.deed_page import deed_page

    deed = services.agents.deed("midnight-tapes")
    track = deed.tracks[0]
    evil = msgspec.structs.replace(track.hooks[0], caption='</script><img src=x onerror=1>')
    hostile = msgspec.structs.replace(
        deed, tracks=(msgspec.structs.replace(track, hooks=(evil,)),),
        json_ld=({"name": "</script><script>alert(1)</script>"},))
    html = deed_page(hostile)
    assert "<img" not in html and "<script>alert" not in html
    assert "\\u003c/script\\u003e" in html


def _chromium_or_skip() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing in CI (.ci/run installs Debian's chromium)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); .ci/run installs it")
    raise AssertionError  # unreachable


def test_the_deed_in_a_browser_without_javascript(client, services, tmp_path) -> None:
    executable = _chromium_or_skip()
    sync_api = pytest.importorskip("playwright.sync_api")
    from PIL import Image

    analysed = analyse_first_track(services)

    requested: list[str] = []

    def answer(route: Any) -> None:
        url = route.request.url
        requested.append(url)
        if not url.startswith(BASE):
            route.abort()
            return
        response = client.get(url.removeprefix(BASE),
                              headers={"accept": route.request.headers.get("accept", "*/*")})
        route.fulfill(status=response.status_code, body=response.content,
                      headers=dict(response.headers))

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(java_script_enabled=False,
                                          viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.route("**/*", answer)
            page.goto(f"{BASE}/r/midnight-tapes")
            heading = page.get_by_role("heading", level=1)
            assert heading.inner_text() == "Midnight Tapes"
            table = page.get_by_role("table", name=re.compile("Uses of Midnight Tapes"))
            assert table.get_by_role("row").count() == len(SCOPES) + 1
            assert table.get_by_role("columnheader", name="Registered AI agents").count() == 1
            timeline = page.get_by_role("img", name=re.compile("Timeline of"))
            assert timeline.count() == len(services.agents.deed("midnight-tapes").tracks) - 1
            waveform = page.get_by_role("img", name=f"Waveform of {analysed}")
            assert waveform.count() == 1
            assert "chorus from 0:58 to 1:28" in page.locator("svg desc").first.text_content()
            assert waveform.locator("path").bounding_box()["height"] > 20  # drawn, not flat
            link = page.get_by_role("link", name="remix-license").first
            assert link.get_attribute("href") == "#route-remix-license"
            shot = tmp_path / "deed.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requested == [f"{BASE}/r/midnight-tapes"]  # the page loaded nothing else
    image = Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")
    assert image.width == 1280 and image.height > 900  # a long page, laid out
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, table lines, the timelines
    white = sum(count for count, rgb in colours if rgb == (255, 255, 255))
    assert white < image.width * image.height * 0.97  # not a blank page
    # The hook windows are drawn in their colour on the timelines, the waveform in its own.
    assert any(rgb == (0xB3, 0x59, 0x00) for _, rgb in colours)
    assert sum(count for count, rgb in colours if rgb == WAVEFORM_COLOUR) > 2000


def test_the_openapi_page_loads_nothing_from_elsewhere(client) -> None:
    response = client.get("/schema")
    assert response.status_code == 200
    assert not re.search(r'(src|href)="https?://', response.text)
