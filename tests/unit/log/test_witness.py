"""C2SP tlog-witness and tlog-cosignature: a witness cosigns a growing log, refuses a fork
and a rollback with the spec's statuses (in process and over HTTP through its app), and a
quorum check fails on a missing or forged cosignature.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.testing import TestClient

from casset_rights.api.witness import create_witness_app
from casset_rights.log import merkle
from casset_rights.log.checkpoint import Checkpoint, note_text, sign_checkpoint, verifier_key
from casset_rights.log.cosignature import (
    CosignerKey,
    cosign_text,
    parse_cosigner_key,
    verify_cosignatures,
)
from casset_rights.log.errors import CheckpointInvalid
from casset_rights.log.witness import (
    SIZE_MEDIA_TYPE,
    Witness,
    WitnessRefused,
    open_witness,
    request_body,
)
from casset_rights.log.witness_client import (
    Cosigner,
    HttpWitness,
    LocalWitness,
    WitnessEndpoint,
    parse_witnesses,
)

ORIGIN = "witness.test/log"
LOG_KEY = Ed25519PrivateKey.generate()


class MemoryLog:
    """A log in memory (leaf hashes), its checkpoints signed by ``key``: the RFC's
    definitions give roots and proofs, independent of the database log."""

    def __init__(self, key: Ed25519PrivateKey = LOG_KEY, prefix: str = "leaf") -> None:
        self.key, self.prefix, self.leaves = key, prefix, []  # type: list[bytes]

    def grow(self, count: int) -> str:
        start = len(self.leaves)
        self.leaves += [merkle.leaf_hash(f"{self.prefix} {i}".encode())
                        for i in range(start, start + count)]
        return self.note()

    def note(self, size: int | None = None) -> str:
        size = len(self.leaves) if size is None else size
        checkpoint = Checkpoint(origin=ORIGIN, tree_size=size,
                                root=merkle.root_of(self.leaves[:size]), timestamp=1_700_000_000)
        return sign_checkpoint(checkpoint, name=ORIGIN, private_key=self.key).note

    def proof(self, first: int, second: int) -> list[bytes]:
        nodes = {}
        for start, end in merkle.consistency_ranges(first, second):
            for level, index in merkle.range_nodes(start, end):
                lo = index << level
                nodes[(level, index)] = merkle.root_of(self.leaves[lo:lo + (1 << level)])
        return merkle.hashes_for(merkle.consistency_ranges(first, second), nodes)


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return open_witness(tmp_path / "witness", name="witness.test/w1",
                        log_keys=[verifier_key(ORIGIN, LOG_KEY.public_key())])


def refused(witness: Witness, body: bytes) -> WitnessRefused:
    with pytest.raises(WitnessRefused) as caught:
        witness.add_checkpoint(body)
    return caught.value


def test_a_witness_cosigns_a_growing_log_and_remembers_it(witness: Witness,
                                                          tmp_path: Path) -> None:
    log = MemoryLog()
    first = log.grow(5)
    line = witness.add_checkpoint(request_body(0, [], first))
    [cosignature] = verify_cosignatures(first + line, [witness.key], 1)
    assert cosignature.name == "witness.test/w1"
    second = log.grow(9)
    line = witness.add_checkpoint(request_body(5, log.proof(5, 14), second))
    verify_cosignatures(second + line, [witness.key], 1)
    # The state and the key outlive the process: the same witness from its folder.
    again = open_witness(tmp_path / "witness")
    assert again.verifier_key == witness.verifier_key and again.name == "witness.test/w1"
    assert again.latest(ORIGIN) == (14, merkle.root_of(log.leaves))


def test_a_witness_refuses_a_rollback(witness: Witness) -> None:
    log = MemoryLog()
    witness.add_checkpoint(request_body(0, [], log.grow(8)))
    grown = log.grow(4)
    witness.add_checkpoint(request_body(8, log.proof(8, 12), grown))
    # An old size other than the one it cosigned: 409 with its size.
    stale = refused(witness, request_body(8, log.proof(8, 12), log.note(12)))
    assert (stale.status, stale.latest_size) == (409, 12)
    # A smaller tree than the one it cosigned: the old size is above the checkpoint's.
    back = refused(witness, request_body(12, [], log.note(8)))
    assert back.status == 400
    assert witness.latest(ORIGIN) == (12, merkle.root_of(log.leaves))


def test_a_witness_refuses_a_fork(witness: Witness) -> None:
    log = MemoryLog()
    witness.add_checkpoint(request_body(0, [], log.grow(6)))
    # The same key signs another history: other leaves from the fourth one on.
    fork = MemoryLog(prefix="other")
    fork.leaves = log.leaves[:3] + [merkle.leaf_hash(b"evil %d" % i) for i in range(7)]
    same_size = refused(witness, request_body(6, [], fork.note(6)))
    assert same_size.status == 409  # same size, another root
    longer = refused(witness, request_body(6, fork.proof(6, 10), fork.note(10)))
    assert longer.status == 422  # no consistency proof from the cosigned tree exists
    # The honest log goes on.
    grown = log.grow(4)
    witness.add_checkpoint(request_body(6, log.proof(6, 10), grown))


def test_unknown_logs_untrusted_keys_and_malformed_bodies(witness: Witness) -> None:
    log = MemoryLog()
    stranger = MemoryLog(key=Ed25519PrivateKey.generate())
    assert refused(witness, request_body(0, [], stranger.grow(3))).status == 403
    other_origin = sign_checkpoint(Checkpoint(origin="elsewhere/log", tree_size=0,
                                              root=merkle.EMPTY_ROOT),
                                   name="elsewhere/log", private_key=LOG_KEY).note
    assert refused(witness, request_body(0, [], other_origin)).status == 404
    note = log.grow(3)
    for body in [b"", b"old 01\n\n" + note.encode(), b"new 0\n\n" + note.encode(),
                 b"old 0\nAAAA\n\n" + note.encode(), b"old 0\n" + note.encode(),
                 request_body(0, [bytes(32)], note), b"\xff"]:
        assert refused(witness, body).status == 400, body[:20]
    many = request_body(2, [bytes(32)] * 64, note)
    assert refused(witness, many).status == 400


# --- over HTTP, through the witness's app -------------------------------------------------------


@pytest.fixture
def http(witness: Witness) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_witness_app(witness), base_url="http://witness.test") as client:
        yield client


def test_the_app_answers_the_specs_statuses(http: TestClient, witness: Witness) -> None:  # type: ignore[type-arg]
    log = MemoryLog()
    ok = http.post("/add-checkpoint", content=request_body(0, [], log.grow(4)))
    assert ok.status_code == 200 and ok.text.startswith("\u2014 witness.test/w1 ")
    stale = http.post("/add-checkpoint", content=request_body(0, [], log.grow(2)))
    assert stale.status_code == 409 and stale.text == "4\n"
    assert stale.headers["content-type"].startswith(SIZE_MEDIA_TYPE)
    assert http.post("/add-checkpoint", content=b"old x\n\n").status_code == 400
    info = http.get("/").json()
    assert info["verifier_key"] == witness.verifier_key and info["logs"] == [ORIGIN]


def test_the_cosigner_collects_a_quorum_and_catches_up_after_a_409(
        http: TestClient, witness: Witness, tmp_path: Path) -> None:  # type: ignore[type-arg]
    log = MemoryLog()
    second = open_witness(tmp_path / "w2", name="witness.test/w2",
                          log_keys=[verifier_key(ORIGIN, LOG_KEY.public_key())])
    witnesses = [WitnessEndpoint(witness.key, HttpWitness("", http=http)),
                 WitnessEndpoint(second.key, LocalWitness(second))]
    cosigned = Cosigner(witnesses).cosign(log.grow(10), log.proof)
    assert len(verify_cosignatures(cosigned, [witness.key, second.key], 2)) == 2
    assert note_text(cosigned) == note_text(log.note())
    # A new cosigner knows no sizes: each witness answers 409 with its size, and the
    # request goes again from there with the consistency proof.
    cosigned = Cosigner(witnesses).cosign(log.grow(5), log.proof)
    assert len(verify_cosignatures(cosigned, [witness.key, second.key], 2)) == 2
    # A fork is refused by both: the note comes back with no cosignature.
    fork = MemoryLog(prefix="fork")
    fork.leaves = log.leaves[:7] + [merkle.leaf_hash(b"x%d" % i) for i in range(20)]
    forked = Cosigner(witnesses).cosign(fork.note(), fork.proof)
    with pytest.raises(CheckpointInvalid, match="0 of the trusted witnesses"):
        verify_cosignatures(forked, [witness.key, second.key], 1)


def test_a_quorum_fails_with_a_missing_or_forged_cosignature(witness: Witness,
                                                             tmp_path: Path) -> None:
    log = MemoryLog()
    note = log.grow(3)
    second = CosignerKey("witness.test/w2", Ed25519PrivateKey.generate().public_key())
    cosigned = note + witness.add_checkpoint(request_body(0, [], note))
    verify_cosignatures(cosigned, [witness.key, second], 1)
    with pytest.raises(CheckpointInvalid, match="1 of the trusted witnesses"):
        verify_cosignatures(cosigned, [witness.key, second], 2)  # w2's is missing
    # A forged line under w1's name and key id: its signature does not verify.
    line = cosigned.splitlines()[-1]
    name, blob = line[2:].split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    forged = note + f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CheckpointInvalid, match="does not verify"):
        verify_cosignatures(forged, [witness.key], 1)
    # A cosignature over another timestamp than it claims, or another checkpoint, fails.
    other = cosign_text(note_text(log.grow(1)), name=name, private_key=Ed25519PrivateKey
                        .generate(), timestamp=5)
    with pytest.raises(CheckpointInvalid, match="0 of the trusted"):
        verify_cosignatures(note + other, [witness.key], 1)
    # The same witness twice counts once.
    twice = cosigned + line + "\n"
    with pytest.raises(CheckpointInvalid):
        verify_cosignatures(twice, [witness.key, witness.key], 2)


def test_witness_keys_and_settings() -> None:
    key = CosignerKey("w.example/1", Ed25519PrivateKey.generate().public_key())
    assert parse_cosigner_key(key.verifier_key) == key
    assert key.verifier_key.split("+")[2].startswith("B")  # base64 of 0x04 ||
    log_vkey = verifier_key(ORIGIN, LOG_KEY.public_key())
    with pytest.raises(CheckpointInvalid):  # a checkpoint (0x01) key is no cosigner key
        parse_cosigner_key(log_vkey)
    parsed = parse_witnesses(f"{key.verifier_key} https://w1.example, \n")
    assert parsed == [(key, "https://w1.example")]


class Unreachable:
    """A transport to a witness that is down (the connection is refused)."""

    def __init__(self) -> None:
        self.calls = 0

    def add_checkpoint(self, body: bytes) -> Any:
        self.calls += 1
        raise ConnectionRefusedError("connection refused")


def test_a_witness_down_is_skipped_and_left_alone_for_a_while(witness: Witness) -> None:
    log = MemoryLog()
    down = Unreachable()
    now = [1000.0]
    cosigner = Cosigner([WitnessEndpoint(CosignerKey("down.test/w", Ed25519PrivateKey.generate()
                                                     .public_key()), down),
                         WitnessEndpoint(witness.key, LocalWitness(witness))],
                        retry_after=30, clock=lambda: now[0])
    note = cosigner.cosign(log.grow(3), log.proof)
    assert len(verify_cosignatures(note, [witness.key], 1)) == 1 and down.calls == 1
    cosigner.cosign(log.grow(2), log.proof)
    assert down.calls == 1  # not asked again within 30 s
    now[0] += 31
    cosigner.cosign(log.grow(2), log.proof)
    assert down.calls == 2
