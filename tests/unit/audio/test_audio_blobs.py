"""The blob store: a local folder and an S3-compatible service (moto's server, run on
loopback by the test), both content-addressed, both serving byte ranges."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casset_rights.audio.blobs import LocalBlobStore, S3BlobStore
from casset_rights.audio.errors import AudioMissing

MOTO = ("from moto.server import ThreadedMotoServer; import sys, time; "
        "s = ThreadedMotoServer('127.0.0.1', 0, verbose=False); s.start(); "
        "print(s.get_host_and_port()[1], flush=True); sys.stdin.read()")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server in a process of its own, on a free loopback port."""
    pytest.importorskip("moto")
    pytest.importorskip("boto3")
    with subprocess.Popen([sys.executable, "-c", MOTO], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as server:
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3BlobStore(bucket=f"b-{tmp_path.name[-20:].lower().replace('_', '-')}",
                       endpoint_url=endpoint, access_key="test", secret_key="test",
                       prefix="casset/", create_bucket=True)


def blob(tmp_path: Path, data: bytes) -> tuple[str, Path]:
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), path


def test_a_blob_is_stored_once_and_read_back_whole_or_in_ranges(store: Any,
                                                                tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one chunk
    key, path = blob(tmp_path, data)
    assert not store.exists("audio", key)
    assert store.put_file("audio", key, path) is True
    assert store.put_file("audio", key, path) is False  # the same bytes: nothing new
    assert store.exists("audio", key) and store.size("audio", key) == len(data)
    assert b"".join(store.open_range("audio", key)) == data
    assert b"".join(store.open_range("audio", key, 1000, 1010)) == data[1000:1010]
    assert b"".join(store.open_range("audio", key, len(data) - 5)) == data[-5:]
    local = store.local_path("audio", key, tmp_path / "scratch")
    assert local.read_bytes() == data


def test_a_missing_blob_is_audio_missing(store: Any, tmp_path: Path) -> None:
    with pytest.raises(AudioMissing):
        store.size("audio", "0" * 64)
    with pytest.raises(AudioMissing):
        b"".join(store.open_range("audio", "0" * 64))
    with pytest.raises(AudioMissing):
        store.local_path("audio", "0" * 64, tmp_path)
