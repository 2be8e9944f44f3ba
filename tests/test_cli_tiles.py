"""End to end with real servers: ``casset-rights serve`` (granian) with an independent
``casset-rights witness serve`` in ``CASSET_WITNESSES`` beside the embedded witness, and
``casset-rights verify --tiles`` checking a receipt from the served tiles alone, with a
quorum of both witnesses pinned."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from casset_rights.cli import main
from casset_rights.log.checkpoint import verifier_key
from casset_rights.log.identity import open_log_key
from casset_rights.log.witness import open_witness

pytestmark = pytest.mark.slow
ORIGIN = "casset.example/rights-log"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:  # only the servers this test started, by their handles
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def cli(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "casset_rights.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_verify_from_the_tiles_of_a_served_log_with_two_witnesses(
        tmp_path: Path, started: list[subprocess.Popen[bytes]], capsys: Any) -> None:
    data = tmp_path / "data"
    log_key = verifier_key(ORIGIN, open_log_key(data / "log").public_key())
    remote = open_witness(tmp_path / "witness", name="witness.test/independent",
                          log_keys=[log_key])
    witness_port, port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASSET_")}
    started.append(cli("witness", "serve", "--data", str(tmp_path / "witness"),
                       "--port", str(witness_port), env=env))
    wait_for(f"http://127.0.0.1:{witness_port}/")
    env.update(CASSET_DATA_DIR=str(data), CASSET_ISSUER=f"http://127.0.0.1:{port}",
               CASSET_WITNESSES=f"{remote.verifier_key} http://127.0.0.1:{witness_port}",
               CASSET_CHAIN="none", CASSET_RATE_LIMITS_ENABLED="false")
    started.append(cli("serve", "--demo", "--port", str(port), env=env))
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/.well-known/casset-rights")

    answer = httpx.post(f"{base}/v1/decisions", json={
        "action": "ai-train", "resource": "hook:midnight-tapes/1/chorus"}).json()
    # Pending until the sequencer integrates and checkpoints it, and the checkpoint is
    # cosigned (the cosigned note is stored just after the checkpoint).
    for _ in range(100):
        bundle = httpx.get(f"{base}/v1/receipts/{answer['receipt_id']}/bundle", timeout=30)
        if bundle.status_code != 409 and \
                msgspec.json.decode(bundle.content)["checkpoint"].count("\u2014 ") == 3:
            break
        time.sleep(0.2)
    assert bundle.status_code == 200, bundle.text
    (tmp_path / "bundle.json").write_bytes(bundle.content)
    described = httpx.get(f"{base}/.well-known/casset-rights").json()["transparency_log"]
    assert described["verifier_key"] == log_key
    assert remote.verifier_key in described["witnesses"] and len(described["witnesses"]) == 2
    note = httpx.get(f"{base}/tlog/checkpoint").text
    assert note.count("\u2014 ") == 3  # the log's signature and two cosignatures

    pins = ["--jwks", f"{base}/.well-known/jwks.json", "--log-key", log_key]
    for key in described["witnesses"]:
        pins += ["--witness-key", key]
    assert main(["verify", str(tmp_path / "bundle.json"), "--tiles", f"{base}/tlog",
                 "--witness-quorum", "2", *pins]) == 0
    out = capsys.readouterr().out
    assert "\u2713 witnesses: cosigned by 2 of 2 pinned witnesses" in out
    assert "computed from" in out and out.endswith("verified from the tiles\n")
    # The same keys pinned in a trust file (trust on first use), against the JSON bundle.
    trust = str(tmp_path / "trust.json")
    assert main(["trust", "pin", base, "--out", trust]) == 0
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "bundle.json"), "--trust", trust,
                 "--skip-anchor"]) == 0
    assert "cosigned by 2 of 2 pinned witnesses (quorum 2)" in capsys.readouterr().out
    # A bare receipt with its index, too.
    receipt = msgspec.json.decode(bundle.content)["receipt"]
    index = str(msgspec.json.decode(bundle.content)["leaf_index"])
    assert main(["verify", receipt, "--tiles", f"{base}/tlog", "--leaf-index", index,
                 *pins]) == 0
    # The witness's state is the checkpoint it cosigned last.
    size = remote.latest(ORIGIN)
    assert size is not None and size[0] >= msgspec.json.decode(bundle.content)["leaf_index"]
