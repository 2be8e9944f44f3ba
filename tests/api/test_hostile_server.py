"""The real server (``casset-rights serve``: granian, one worker) under hostile bodies:
each refused, none ends a process, and other callers' decisions sent at the same time are
answered and their receipts stored."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

HOOK = "hook:midnight-tapes/1/chorus"
JSON = {"content-type": "application/json"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def decision_with(context: bytes) -> bytes:
    return b'{"action": "remix", "resource": "' + HOOK.encode() + b'", "context": ' \
        + context + b"}"


HOSTILE = [
    (nested(100_000), 422, "body_too_deep"),
    (b'{"a":' * 40_000 + b"1" + b"}" * 40_000, 422, "body_too_deep"),
    (decision_with(nested(120_000)), 422, "body_too_deep"),
    (decision_with(b'{"x": ' + nested(28) + b"}"), 422, "unknown_context_key"),
    (decision_with(b'{"at": ' + nested(29) + b"}"), 422, "invalid_input"),
    (decision_with(b'{"excerpt_seconds": ' + b"9" * 4000 + b"}"), 422, "integer_out_of_range"),
    (decision_with(b'{"purpose": "commercial", "purpose": "non-commercial"}'), 422,
     "duplicate_key"),
    (b"[" * 300_000, 413, "body_too_large"),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASSET_")}
    env.update(CASSET_DATA_DIR=str(tmp_path / "data"), CASSET_RATE_LIMITS_ENABLED="false",
               CASSET_REGISTRATION_BURST="1000")
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "casset_rights.cli", "serve", "--demo", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"], env=env, stdout=log,
        stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(base + "/.well-known/casset-rights", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        yield base
        assert process.poll() is None, (tmp_path / "server.log").read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def ordinary_decision(base: str) -> tuple[int, str]:
    answer = httpx.post(base + "/v1/decisions", json={
        "action": "remix", "resource": HOOK, "context": {"purpose": "commercial"}},
        timeout=120)  # generous: CI machines run this beside other suites
    return answer.status_code, answer.json().get("receipt_id", answer.text)


def test_hostile_bodies_end_no_process_and_touch_no_other_caller(server: str) -> None:
    with httpx.Client(base_url=server, timeout=120) as client:
        for body, status, code in HOSTILE:
            for path in ("/v1/decisions", "/oauth/register"):
                if path == "/oauth/register" and code not in ("body_too_deep",
                                                              "body_too_large"):
                    continue
                answer = client.post(path, content=body, headers=JSON)
                assert answer.status_code == status, (path, answer.text[:300])
                assert answer.json()["code"] == code
                if status == 413:  # the unread rest of the body ends the connection
                    assert answer.headers["connection"] == "close"
    # Hostile and ordinary callers at once: every ordinary decision is answered, and its
    # receipt stored by the same receipt writer the hostile requests went past.
    with ThreadPoolExecutor(max_workers=8) as pool:
        hostile = [pool.submit(httpx.post, server + "/v1/decisions", content=body,
                               headers=JSON, timeout=120) for body, _, _ in HOSTILE * 3]
        ordinary = [pool.submit(ordinary_decision, server) for _ in range(24)]
        refused = [f.result().status_code for f in hostile]
        answered = [f.result() for f in ordinary]
    assert all(400 <= status < 500 for status in refused), refused
    assert [status for status, _ in answered] == [200] * len(answered), answered
    with httpx.Client(base_url=server, timeout=120) as client:
        for _, receipt_id in answered:
            stored = client.get(f"/v1/receipts/{receipt_id}")
            assert stored.status_code == 200, stored.text
        assert client.post("/v1/decisions", json={
            "action": "remix", "resource": HOOK}).json()["decision"]


def test_bodies_streamed_without_a_length_are_read_whole_and_bounded(server: str) -> None:
    """Chunked bodies, no Content-Length: the server's messages are read to the end, in
    any number of pieces, and a body that streams past the limit is refused as one that
    announces it (413), with the rest of it unread."""
    body = json.dumps({"action": "quote", "resource": HOOK,
                       "context": {"excerpt_seconds": 25}}).encode()

    def pieces(data: bytes, size: int) -> Iterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start:start + size]

    with httpx.Client(base_url=server, timeout=120) as client:
        whole = client.post("/v1/decisions", content=body, headers=JSON)
        streamed = client.post("/v1/decisions", content=pieces(body, 7), headers=JSON)
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 200, streamed.text
        assert streamed.json()["decision"] == whole.json()["decision"] == "permit"
        assert streamed.json()["receipt_id"] != whole.json()["receipt_id"]
        padded = b'{"action": "quote", "resource": "' + b"x" * 400_000 + b'"}'
        too_large = client.post("/v1/decisions", content=pieces(padded, 65_536),
                                headers=JSON)
        assert too_large.status_code == 413, too_large.text
        assert too_large.json()["code"] == "body_too_large"
        assert client.post("/v1/decisions", content=pieces(body, 3),
                           headers=JSON).status_code == 200
