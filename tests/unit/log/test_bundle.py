"""Receipt bundles: built by the service's own parts, verified step by step, and every
tampered part refused at exactly its step.

One bundle is built per module on a SQLite file (the steps are pure verification; the
database tests of the log and of the bundle endpoint run on both databases elsewhere):
receipts stored through ``ReceiptStore``, integrated by the sequencer, a checkpoint
anchored on the embedded chain by the real job.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from casset_rights.anchoring.service import AnchorService
from casset_rights.db.engine import make_engine
from casset_rights.db.tables import metadata
from casset_rights.errors import InvalidInput
from casset_rights.log import TransparencyLog, verifier_key
from casset_rights.log.bundle import (
    BundleInvalid,
    NewerCheckpoint,
    ReceiptBundle,
    Step,
    decode_bundle,
    verify_receipt_bundle,
)
from casset_rights.log.keeper import LogKeeper, keeper_for
from casset_rights.receipts.keys import FileKeyStore
from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore

ORIGIN = "rights.casset.test/log"
BODY = {"principal": {"kind": "public"}, "request": {"action": "listen"}}
# The keys a verifier pinned: the world's own, set by the fixture (never the bundle's).
PINNED: dict[str, Any] = {}


@dataclass
class World:
    keeper: LogKeeper
    receipts: ReceiptStore
    issuer: ReceiptIssuer
    anchored: ReceiptBundle  # of a receipt in the anchored checkpoint
    jtis: list[str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder: Path = tmp_path_factory.mktemp("bundle")
    engine = make_engine(f"sqlite:///{folder / 'casset.db'}")
    metadata.create_all(engine)
    keys = FileKeyStore(folder / "keys")
    log = TransparencyLog(engine, origin=ORIGIN, signing_key=keys.active().private_key)
    receipts = ReceiptStore(engine)
    keeper = keeper_for(log, anchoring=AnchorService(engine, chain="embedded"),
                        receipts=receipts, keys=keys)
    issuer = ReceiptIssuer(keys, issuer="https://rights.test")
    PINNED.update(jwks=keys.jwks(), log_key=log.verifier_key)
    stored = receipts.store([issuer.issue("decision", BODY) for _ in range(7)])
    run = keeper.anchor_now()
    assert run.anchor is not None and run.anchor.status == "confirmed"
    yield World(keeper=keeper, receipts=receipts, issuer=issuer,
                anchored=keeper.bundle(stored[5].jti), jtis=[r.jti for r in stored])
    engine.dispose()


def steps_of(bundle: ReceiptBundle, **kwargs: Any) -> list[Step]:
    seen: list[Step] = []
    verify_receipt_bundle(bundle, report=seen.append, **{**PINNED, **kwargs})
    return seen


def failed_step(bundle: ReceiptBundle, **kwargs: Any) -> tuple[str, str, list[Step]]:
    seen: list[Step] = []
    with pytest.raises(BundleInvalid) as caught:
        verify_receipt_bundle(bundle, report=seen.append, **{**PINNED, **kwargs})
    assert seen[-1].status == "failed" and seen[-1].name == caught.value.step
    assert all(s.status != "failed" for s in seen[:-1])
    return caught.value.step, caught.value.reason, seen


def test_an_anchored_bundle_verifies_every_step(world: World) -> None:
    bundle = world.anchored
    assert bundle.leaf_index == 5 and bundle.inclusion_proof.tree_size == 7
    assert bundle.anchor is not None and bundle.anchor.chain == "embedded"
    seen = steps_of(bundle, chain=world.keeper.anchoring.chain)
    assert [(s.name, s.status) for s in seen] == [
        ("receipt", "ok"), ("checkpoint", "ok"), ("witnesses", "skipped"), ("inclusion", "ok"),
        ("consistency", "skipped"), ("anchor", "ok")]
    assert "embedded (chain id" in seen[-1].detail


def test_the_bundle_round_trips_as_json(world: World) -> None:
    data = msgspec.json.encode(world.anchored)
    assert decode_bundle(data) == world.anchored
    assert msgspec.json.decode(data)["leaf_hash"] == base64.b64encode(
        world.anchored.leaf_hash).decode()
    with pytest.raises(InvalidInput):
        decode_bundle(b'{"format": "casset-receipt-bundle/v1"}')
    with pytest.raises(InvalidInput, match="unknown bundle format"):
        decode_bundle(data.replace(b"bundle/v1", b"bundle/v9"))


def _flip_char(text: str, at: int) -> str:
    c = text[at]
    return text[:at] + ("A" if c != "A" else "B") + text[at + 1:]


def _replace_line(note: str, line: int, new: str) -> str:
    lines = note.split("\n")
    lines[line] = new
    return "\n".join(lines)


def _tampered(bundle: ReceiptBundle, part: str) -> ReceiptBundle:
    replace = msgspec.structs.replace
    proof = bundle.inclusion_proof
    assert bundle.anchor is not None
    if part == "receipt payload":
        head, payload, signature = bundle.receipt.split(".")
        return replace(bundle, receipt=f"{head}.{_flip_char(payload, 10)}.{signature}")
    if part == "receipt signature":
        return replace(bundle, receipt=_flip_char(bundle.receipt, len(bundle.receipt) - 5))
    if part == "proof hash":
        first = bytes([proof.hashes[0][0] ^ 1]) + proof.hashes[0][1:]
        return replace(bundle, inclusion_proof=replace(proof, hashes=(first, *proof.hashes[1:])))
    if part == "proof length":
        return replace(bundle, inclusion_proof=replace(proof, hashes=proof.hashes[:-1]))
    if part == "leaf index":
        return replace(bundle, leaf_index=bundle.leaf_index - 1)
    if part == "leaf hash":
        return replace(bundle, leaf_hash=bytes(32))
    if part == "checkpoint root":
        other = base64.b64encode(bytes(32)).decode()
        return replace(bundle, checkpoint=_replace_line(bundle.checkpoint, 2, other))
    if part == "checkpoint size":
        return replace(bundle, checkpoint=_replace_line(bundle.checkpoint, 1, "8"))
    if part == "checkpoint signature":
        return replace(bundle, checkpoint=bundle.checkpoint.replace("\u2014 ", "\u2014 x", 1))
    if part == "anchor root":
        return replace(bundle, anchor=replace(bundle.anchor, root=bytes(32)))
    if part == "anchor size":
        return replace(bundle, anchor=replace(bundle.anchor, tree_size=6))
    if part == "anchor transaction":
        return replace(bundle, anchor=replace(bundle.anchor, tx_hash="0x" + "ab" * 32))
    if part == "anchor block":
        block = bundle.anchor.block_number + 1
        return replace(bundle, anchor=replace(bundle.anchor, block_number=block))
    if part == "anchor contract":
        return replace(bundle, anchor=replace(bundle.anchor, contract_address="0x" + "11" * 20))
    raise AssertionError(part)


@pytest.mark.parametrize(("part", "step"), [
    ("receipt payload", "receipt"),
    ("receipt signature", "receipt"),
    ("checkpoint root", "checkpoint"),
    ("checkpoint size", "checkpoint"),
    ("checkpoint signature", "checkpoint"),
    ("proof hash", "inclusion"),
    ("proof length", "inclusion"),
    ("leaf index", "inclusion"),
    ("leaf hash", "inclusion"),
    ("anchor root", "anchor"),
    ("anchor size", "anchor"),
    ("anchor transaction", "anchor"),
    ("anchor block", "anchor"),
    ("anchor contract", "anchor"),
])
def test_each_tampered_part_fails_its_own_step(world: World, part: str, step: str) -> None:
    failed, reason, _ = failed_step(_tampered(world.anchored, part),
                                    chain=world.keeper.anchoring.chain)
    assert failed == step, reason


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_flipping_any_bit_of_the_inclusion_proof_fails_inclusion(world: World,
                                                                  data: st.DataObject) -> None:
    proof = world.anchored.inclusion_proof
    which = data.draw(st.integers(0, len(proof.hashes) - 1))
    bit = data.draw(st.integers(0, 255))
    hashes = list(proof.hashes)
    flipped = bytearray(hashes[which])
    flipped[bit // 8] ^= 1 << (bit % 8)
    hashes[which] = bytes(flipped)
    bundle = msgspec.structs.replace(
        world.anchored, inclusion_proof=msgspec.structs.replace(proof, hashes=tuple(hashes)))
    assert failed_step(bundle, check_anchor=False)[0] == "inclusion"


def test_pinned_keys_decide_not_the_bundles_own(world: World) -> None:
    bundle = world.anchored
    stranger = Ed25519PrivateKey.generate().public_key()
    assert failed_step(bundle, jwks={"keys": []}, check_anchor=False)[0] == "receipt"
    foreign_log_key = verifier_key(ORIGIN, stranger)
    step, reason, _ = failed_step(bundle, log_key=foreign_log_key, check_anchor=False)
    assert step == "checkpoint" and "no signature by the key" in reason
    # The service's own keys, pinned, pass.
    steps_of(bundle, jwks=world.keeper.bundle(bundle.jti).jwks,
             log_key=world.keeper.log.verifier_key, check_anchor=False)


def test_an_embedded_anchor_is_not_verified_without_its_chain(world: World) -> None:
    step, reason, seen = failed_step(world.anchored)
    assert step == "anchor" and "cannot be reached" in reason
    assert [s.status for s in seen[:4]] == ["ok", "ok", "skipped", "ok"]
    skipped = steps_of(world.anchored, check_anchor=False)
    assert skipped[-1] == Step("anchor", "skipped", "not checked (asked not to)")


def test_a_receipt_after_the_anchor_gets_the_newest_checkpoint_and_no_anchor(
        world: World) -> None:
    [late] = world.receipts.store([world.issuer.issue("decision", BODY)])
    world.keeper.sequencer.catch_up()
    bundle = world.keeper.bundle(late.jti)
    assert bundle.anchor is None and bundle.inclusion_proof.tree_size > bundle.leaf_index
    step, reason, _ = failed_step(bundle)
    assert step == "anchor" and "not anchored yet" in reason
    steps_of(bundle, check_anchor=False)
    # Receipts inside the anchored tree keep their anchored checkpoint.
    again = world.keeper.bundle(world.jtis[5])
    assert again.anchor == world.anchored.anchor
    assert again.inclusion_proof == world.anchored.inclusion_proof


def test_consistency_with_a_newer_checkpoint(world: World) -> None:
    log = world.keeper.log
    world.receipts.store([world.issuer.issue("decision", BODY) for _ in range(3)])
    world.keeper.sequencer.integrate()
    newer = log.checkpoint_now()
    first = world.anchored.inclusion_proof.tree_size
    proof = log.consistency_proof(first, newer.tree_size)
    good = NewerCheckpoint(note=newer.note, consistency_proof=proof.hashes)
    seen = steps_of(world.anchored, newer=good, chain=world.keeper.anchoring.chain)
    assert seen[4].name == "consistency" and seen[4].status == "ok"
    assert f"prefix of the newer checkpoint's tree of size {newer.tree_size}" in seen[4].detail

    bad_proof = msgspec.structs.replace(good, consistency_proof=proof.hashes[:-1])
    assert failed_step(world.anchored, newer=bad_proof)[0] == "consistency"
    forged = msgspec.structs.replace(good, note=_replace_line(newer.note, 1, "999"))
    step, reason, _ = failed_step(world.anchored, newer=forged)
    assert step == "consistency" and reason.startswith("the newer checkpoint:")
    same = NewerCheckpoint(note=log.checkpoint_at(first).note, consistency_proof=())
    assert steps_of(world.anchored, newer=same, check_anchor=False)[4].status == "ok"
