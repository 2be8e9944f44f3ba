"""``verify_anchor``: says which chain, and refuses whenever the chain does not hold it."""

from __future__ import annotations

import msgspec
import pytest
from sqlalchemy import Engine

from casset_rights.anchoring.chain import BASE_MAINNET
from casset_rights.anchoring.embedded import EmbeddedChain
from casset_rights.anchoring.errors import AnchorInvalid, ChainUnavailable
from casset_rights.anchoring.job import Anchorer
from casset_rights.anchoring.records import AnchorProof
from casset_rights.anchoring.rpc import JsonRpcChain
from casset_rights.anchoring.verify import verify_anchor
from casset_rights.log import LeafInput, TransparencyLog


@pytest.fixture
def proof(anchorer: Anchorer, log: TransparencyLog) -> AnchorProof:
    log.append_many([LeafInput("manifest", f"m{i}", f"manifest {i}".encode()) for i in range(9)])
    log.checkpoint_now()
    record = anchorer.anchor_latest(log)
    assert record is not None
    return record.proof()


def test_a_held_anchor_verifies_and_round_trips_as_json(proof: AnchorProof,
                                                        chain: EmbeddedChain) -> None:
    verify_anchor(proof, chain)
    assert proof.chain == "embedded"
    again = msgspec.json.decode(msgspec.json.encode(proof), type=AnchorProof)
    verify_anchor(again, chain)


@pytest.mark.parametrize(("change", "message"), [
    ({"root": b"\x00" * 32}, "anchored root"),
    ({"tree_size": 10}, "size 9, not root"),
    ({"tx_hash": "0x" + "ab" * 32}, "has no mined transaction"),
    ({"block_number": 1}, "not 1"),
    ({"chain_id": BASE_MAINNET}, "the anchor is on base \\(chain id 8453\\)"),
    ({"contract_address": "0x" + "11" * 20}, "names the contract"),
])
def test_whatever_the_chain_does_not_hold_is_refused(proof: AnchorProof, chain: EmbeddedChain,
                                                     change: dict, message: str) -> None:
    with pytest.raises(AnchorInvalid, match=message):
        verify_anchor(msgspec.structs.replace(proof, **change), chain)


def test_another_anchor_transaction_is_refused(proof: AnchorProof, chain: EmbeddedChain) -> None:
    # A real anchor transaction of the same contract, for another root.
    other = chain.sign_anchor(b"\x05" * 32, 5)
    chain.broadcast(other.raw)
    outcome = chain.outcome(other.tx_hash)
    assert outcome is not None
    with pytest.raises(AnchorInvalid, match="anchored root 0505"):
        verify_anchor(msgspec.structs.replace(proof, tx_hash=other.tx_hash,
                                              block_number=outcome.block_number), chain)


def test_an_unconfirmed_record_is_not_verified(anchorer: Anchorer, log: TransparencyLog,
                                               chain: EmbeddedChain) -> None:
    log.append("policy", "p", b"policy")
    cp = log.checkpoint_now()
    intent = anchorer.record_intent(cp.root, cp.tree_size)
    with pytest.raises(AnchorInvalid, match="intent, not confirmed"):
        verify_anchor(intent, chain)


def test_an_unreachable_chain_is_no_verification(proof: AnchorProof) -> None:
    chain = JsonRpcChain("http://127.0.0.1:9", chain_id=proof.chain_id,
                         contract_address=proof.contract_address)
    with pytest.raises(ChainUnavailable):
        verify_anchor(proof, chain)


def test_a_restarted_embedded_chain_no_longer_holds_old_anchors(proof: AnchorProof,
                                                                engine: Engine) -> None:
    with pytest.warns(UserWarning):
        fresh = EmbeddedChain()
    with pytest.raises(AnchorInvalid, match="on embedded"):
        verify_anchor(proof, fresh)
