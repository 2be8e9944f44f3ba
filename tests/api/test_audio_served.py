"""A preview served by the real server (granian): the file sent by the server itself
through the ASGI pathsend extension, the same bytes as the in-process answer of a
Range request, and a signed preview that verifies (slow: ``casset-rights serve --demo``
in a process, its demo audio synthesised)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("soundfile")
pytest.importorskip("c2pa")

import httpx

from casset_rights.audio.provenance import verify_preview
from casset_rights.receipts.verify import verify_receipt

pytestmark = pytest.mark.slow


def test_the_server_sends_the_signed_preview_file_itself(live_server: Any) -> None:
    with httpx.Client(base_url=live_server.url, timeout=120) as http:
        answer = http.post("/v1/previews", json={"resource": "hook:midnight-tapes/1/chorus"})
        assert answer.status_code == 200, answer.text
        url = answer.json()["preview_url"]
        whole = http.get(url)  # pathsend: the server reads the file
        assert whole.status_code == 200
        assert whole.headers["content-type"] == "audio/mp4"
        assert int(whole.headers["content-length"]) == len(whole.content)
        assert whole.headers["link"].endswith('rel="license"')
        assert whole.headers["x-request-id"]  # the app's middleware saw the answer
        again = http.get(url)  # the file's place is remembered: the same bytes
        assert again.content == whole.content and again.headers["etag"] == whole.headers["etag"]
        # A Range is answered from the bytes in memory: the same file.
        part = http.get(url, headers={"Range": "bytes=0-"})
        assert part.status_code == 206 and part.content == whole.content
        assert http.get(url, headers={"If-None-Match": whole.headers["etag"]}).status_code \
            == 304
        anchor = http.get("/.well-known/c2pa-trust-anchor.pem").content
        jwks = http.get("/.well-known/jwks.json").json()
    report = verify_preview(whole.content, mime="audio/mp4", anchor_pem=anchor, jwks=jwks,
                            verify_receipt=verify_receipt)
    assert report.rights["resource"] == "hook:midnight-tapes/1/chorus"
