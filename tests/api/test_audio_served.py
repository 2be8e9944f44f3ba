"""A preview served by the real server (granian): the file sent by the server itself
through the ASGI pathsend extension, the same bytes as the in-process answer of a
Range request, and a signed preview that verifies (slow: a server process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("soundfile")
pytest.importorskip("c2pa")

import httpx

from casset_rights.audio.demo import store_demo_audio
from casset_rights.audio.provenance import verify_preview
from casset_rights.config import settings_from_env
from casset_rights.receipts.verify import verify_receipt
from casset_rights.services import load_examples, open_services

pytestmark = pytest.mark.slow


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``casset-rights serve`` (granian, one worker) on a data folder holding the demo
    catalog and the audio of midnight-tapes' first track."""
    folder = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CASSET_")},
           "CASSET_DATA_DIR": str(folder / "data"), "CASSET_HOST": "127.0.0.1",
           "CASSET_PORT": str(port), "CASSET_WORKERS": "1",
           "CASSET_AUDIO_ANALYSIS_WORKERS": "0"}
    services = open_services(settings_from_env(env))
    try:
        load_examples(services)
        head = json.loads(services.catalog.head("midnight-tapes").document)
        head["tracks"] = head["tracks"][:1]
        store_demo_audio(services.audio, [head])
    finally:
        services.close()
    cli = os.path.join(os.path.dirname(sys.executable), "casset-rights")
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen([cli, "serve"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/.well-known/casset-rights", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (folder / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_server_sends_the_signed_preview_file_itself(server: str) -> None:
    with httpx.Client(base_url=server, timeout=120) as http:
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
